"""收文: the clerk registers, the director proposes, the leaders instruct in turn, then every
department it goes to signs for it and marks it done at its own pace."""

from __future__ import annotations

from typing import Any

from tests.chat_helpers import error_code
from tests.conftest import Api, Connect
from tests.flow_helpers import actions_of, card_message, decide

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def incoming(**extra: Any) -> dict[str, Any]:
    return {"flow": "incoming_doc", "form": {
        "title": "关于做好冬季安全生产工作的通知", "issuer": "省应急管理厅",
        "doc_number": "辽应急发〔2026〕31号", "urgency": "urgent",
        "departments": ["finance", "planning"], **extra}}


async def test_a_document_is_proposed_instructed_then_signed_for_and_done_by_each_department(
        connect: Connect, api: Api) -> None:
    clerk, director, deputy, chief, fin, plan, outsider = [await connect(u) for u in (
        "clerk", "director", "deputy", "chief", "fin_head", "plan_head", "staff01")]
    token = await api.token("clerk")
    status, body = await api.call("POST", "/api/v1/files?for=card&name=通知.pdf", raw=PDF,
                                  token=token)
    assert status == 201, body
    file_id = body["file"]["id"]
    started = await clerk.ok("flow:start", incoming(attachments=[file_id]))
    card_id = started["card_id"]
    assert [a["name"] for a in started["card"]["attachments"]] == ["通知.pdf"]

    for person, action, step in ((director, "propose", "拟办"),
                                 (deputy, "instruct", "分管领导批示"),
                                 (chief, "instruct", "主要领导批示")):
        arrived = await person.wait_for("msg:new", card_message(card_id))
        assert actions_of(arrived["message"]["card"]) == [action]
        card = await decide(person, card_id, action, comment=f"{step}意见")
        assert card["timeline"][-1]["step"] == step

    for head in (fin, plan):
        arrived = await head.wait_for("msg:new", card_message(card_id))
        assert actions_of(arrived["message"]["card"]) == ["receive"]
    received = await decide(fin, card_id, "receive")
    assert actions_of(received) == ["complete"] and received["status"] == "pending"
    done_first = await decide(fin, card_id, "complete", comment="已部署落实")
    assert done_first["status"] == "pending" and actions_of(done_first) == []
    await decide(plan, card_id, "receive")
    finished = await decide(plan, card_id, "complete")
    assert finished["status"] == "done"
    assert [t["decision"] for t in finished["timeline"]] == [
        "propose", "instruct", "instruct", "receive", "complete", "receive", "complete"]

    fin_token = await api.token("fin_head")
    status, data = await api.call("GET", f"/api/v1/files/{file_id}", token=fin_token)
    assert status == 200 and data.startswith("%PDF")
    status, _ = await api.call("GET", f"/api/v1/files/{file_id}",
                               token=await api.token("staff01"))
    assert status == 403
    assert not [d for d in outsider.received("msg:new") if card_message(card_id)(d)]


async def test_only_a_clerk_registers_and_the_form_names_what_is_wrong(
        connect: Connect, api: Api) -> None:
    clerk, staff = [await connect(u) for u in ("clerk", "staff01")]
    assert error_code(await staff.call("flow:start", incoming())) == "forbidden"
    for extra, field in (({"departments": ["nowhere"]}, "form.departments"),
                         ({"departments": []}, "form.departments"),
                         ({"urgency": "whenever"}, "form.urgency"),
                         ({"doc_number": ""}, "form.doc_number"),
                         ({"attachments": ["no-such-file"]}, "form.attachments")):
        reply = await clerk.call("flow:start", incoming(**extra))
        assert error_code(reply) == "bad_request" and field in reply["error"]["message"]
    # A file someone else uploaded cannot be put on the clerk's card.
    status, body = await api.call("POST", "/api/v1/files?for=card&name=x.pdf", raw=PDF,
                                  token=await api.token("staff01"))
    assert status == 201
    reply = await clerk.call("flow:start", incoming(attachments=[body["file"]["id"]]))
    assert error_code(reply) == "bad_request" and "form.attachments" in reply["error"]["message"]
    assert (await clerk.ok("flow:list", {"box": "mine"}))["counts"]["mine"] == 0
