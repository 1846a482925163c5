"""Approval flows on the demo organisation and on org-large: the leave flow end to end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cards.flows.deadlines import Deadlines
from core.directory.service import DirectoryService
from tests.chat_helpers import error_code
from tests.conftest import SHARED, Api, Connect
from tests.flow_helpers import decide, leave, titled


async def test_a_five_day_leave_goes_director_deputy_chief_then_hr_records_it(
        connect: Connect) -> None:
    staff, director, deputy, chief, hr = [await connect(u) for u in (
        "staff02", "director", "deputy", "chief", "hr")]
    started = await staff.ok("flow:start", leave(5))
    card_id = started["card_id"]
    assert started["card"]["status"] == "pending" and started["card"]["actions"] == []
    assert started["card"]["fields"][3] == {"label": "天数", "value": "5"}
    for approver, nxt in ((director, deputy), (deputy, chief), (chief, None)):
        arrived = await approver.wait_for(
            "msg:new", lambda d: (d["message"].get("card") or {}).get("card_id") == card_id)
        assert [a["id"] for a in arrived["message"]["card"]["actions"]] == ["approve",
                                                                            "reject"]
        if nxt is not None:
            assert not [d for d in nxt.received("msg:new")
                        if (d["message"].get("card") or {}).get("card_id") == card_id]
        result = await decide(approver, card_id, comment="同意")
    assert result["status"] == "approved"
    assert [t["actor_id"] for t in result["timeline"]] == ["director", "deputy", "chief"]
    assert [t["step"] for t in result["timeline"]] == ["部门负责人", "分管领导", "单位负责人"]
    record = await hr.wait_for("msg:new", lambda d: d["message"]["type"] == "card" and
                               d["message"]["card"]["title"].startswith("备案"))
    assert record["message"]["card"]["fields"][3]["value"] == "5"
    update = await staff.wait_for("card:update", lambda d: d["card_id"] == card_id and
                                  d["card"]["status"] == "approved")
    assert update["version"] == 4
    mine = await staff.ok("flow:list", {"box": "mine"})
    assert [i["card_id"] for i in mine["items"]] == [card_id] and mine["counts"]["mine"] == 1
    done = await deputy.ok("flow:list", {"box": "done"})
    assert done["counts"] == {"todo": 0, "done": 1, "mine": 0}


async def test_the_chain_follows_the_days(connect: Connect) -> None:
    staff, director, deputy = [await connect(u) for u in ("staff03", "director", "deputy")]
    one_day = (await staff.ok("flow:start", leave(1)))["card_id"]
    three_days = (await staff.ok("flow:start", leave(3)))["card_id"]
    assert (await director.ok("flow:list", {"box": "todo"}))["counts"]["todo"] == 2
    assert (await decide(director, one_day))["status"] == "approved"
    assert (await decide(director, three_days))["status"] == "pending"
    assert (await deputy.ok("flow:list", {"box": "todo"}))["items"][0]["card_id"] == three_days
    assert (await decide(deputy, three_days))["status"] == "approved"


async def test_a_rejection_ends_the_flow_with_its_reason(connect: Connect) -> None:
    staff, director, deputy = [await connect(u) for u in ("staff04", "director", "deputy")]
    card_id = (await staff.ok("flow:start", leave(2)))["card_id"]
    await decide(director, card_id)
    rejected = await decide(deputy, card_id, "reject", comment="年底任务重，请改期")
    assert rejected["status"] == "rejected" and rejected["actions"] == []
    seen = await staff.wait_for("card:update", lambda d: d["card"]["status"] == "rejected")
    assert seen["card"]["timeline"][-1]["comment"] == "年底任务重，请改期"
    assert (await deputy.ok("flow:list", {"box": "todo"}))["counts"]["todo"] == 0


async def test_a_department_heads_own_leave_skips_them_and_the_top_leader_is_recorded(
        connect: Connect) -> None:
    director, deputy, chief, hr = [await connect(u) for u in ("director", "deputy", "chief",
                                                              "hr")]
    own = (await director.ok("flow:start", leave(1)))["card_id"]
    arrived = await deputy.wait_for("msg:new", lambda d: (d["message"].get("card") or {}).get(
        "card_id") == own)
    assert arrived["message"]["card"]["actions"]
    assert (await decide(deputy, own))["status"] == "approved"
    top = await chief.ok("flow:start", leave(2))
    assert top["card"]["status"] == "approved"  # nobody above the top unit head
    await hr.wait_for("msg:new", lambda d: d["message"]["type"] == "card" and
                      d["message"]["card"]["title"] == "备案：" + top["card"]["title"])


async def test_a_bad_leave_form_names_the_field(connect: Connect) -> None:
    staff = await connect("staff05")
    for form, field in [
        ({"leave_type": "holiday"}, "form.leave_type"),
        ({"end": "2026-11-30"}, "form.end"),
        ({"days": 4}, "form.days"),
        ({"reason": " "}, "form.reason"),
        ({"start": "tomorrow"}, "form.start"),
        ({"color": "red"}, "form.color"),
    ]:
        payload = leave(3)
        payload["form"].update(form)
        reply = await staff.call("flow:start", payload)
        assert error_code(reply) == "bad_request" and field in reply["error"]["message"], form
    assert error_code(await staff.call("flow:start", {"flow": "teleport", "form": {}})) == \
        "bad_request"
    assert (await staff.ok("flow:list", {"box": "mine"}))["counts"]["mine"] == 0


async def test_leave_routing_on_the_large_organisation(node, api: Api,  # type: ignore[no-untyped-def]
                                                       connect: Connect) -> None:
    data = json.loads((SHARED / "data" / "org-large.json").read_text())
    status, _ = await api.call("POST", "/api/v1/directory/import", data,
                               token=await api.token("admin"))
    assert status == 200
    directory: DirectoryService = node.services.directory
    tree = await directory.get_tree()
    # A staff member deep in the tree whose three levels are three different people.
    applicant = next(
        u["username"] for u in data["users"] if u["roles"] == ["staff"] and len({
            tree.department_head(u["dept_id"]), tree.leader_in_charge(u["dept_id"]),
            tree.unit_head(u["dept_id"])} - {None}) == 3)
    routing = await directory.get_routing(applicant)
    expected = [routing.department_head, routing.leader_in_charge, routing.unit_head]
    client = await connect(applicant)
    card_id = (await client.ok("flow:start", leave(5)))["card_id"]
    for approver in expected:
        assert approver is not None
        result = await decide(await connect(approver), card_id)
    assert [t["actor_id"] for t in result["timeline"]] == expected
    assert result["status"] == "approved"


async def test_the_audit_log_is_a_verified_hash_chain_and_detects_any_edit(
        node, api: Api, connect: Connect) -> None:  # type: ignore[no-untyped-def]
    staff, director, deputy = [await connect(u) for u in ("staff06", "fin_head", "deputy")]
    card_id = (await staff.ok("flow:start", leave(2)))["card_id"]
    await decide(director, card_id, comment="同意")
    await decide(deputy, card_id)
    token = await api.token("staff06")
    status, body = await api.call("GET", f"/api/v1/flows/{card_id}/audit", token=token)
    assert status == 200 and body["verified"] is True and body["broken_at"] is None
    assert [(e["n"], e["actor_id"], e["event"]) for e in body["entries"]] == [
        (1, "staff06", "submit"), (2, "fin_head", "approve"), (3, "deputy", "approve"),
        (4, "system", "approved")]
    assert body["entries"][1]["prev_hash"] == body["entries"][0]["hash"]
    status, _ = await api.call("GET", f"/api/v1/flows/{card_id}/audit",
                               token=await api.token("staff11"))
    assert status == 403
    await node.db["flow_audit"].update_one({"_id": f"{card_id}|00000002"},
                                           {"$set": {"entry.detail.comment": "不同意"}})
    status, body = await api.call("GET", f"/api/v1/flows/{card_id}/audit", token=token)
    assert body["verified"] is False and body["broken_at"] == 2


async def test_parallel_appends_never_fork_the_chain(node) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from cards.audit import AuditLog

    log = AuditLog(node.db, node.clock)
    await asyncio.gather(*[log.append("parallel", f"u{n}", "sign", {"n": n})
                           for n in range(30)])
    result = await log.verify("parallel")
    assert result.verified and [e["n"] for e in result.entries] == list(range(1, 31))
    assert sorted(e["actor_id"] for e in result.entries) == sorted(f"u{n}" for n in range(30))


async def test_a_long_or_out_of_province_trip_needs_the_leader_then_the_clerk_registers_it(
        connect: Connect) -> None:
    staff, director, deputy, clerk = [await connect(u) for u in (
        "staff01", "director", "deputy", "clerk")]
    trip = {"basis": "省厅通知", "start": "2026-12-01", "end": "2026-12-02",
            "destination": "杭州", "transport": "train", "out_of_province": True}
    card_id = (await staff.ok("flow:start", {"flow": "trip", "form": trip}))["card_id"]
    await decide(director, card_id)
    await decide(deputy, card_id)
    arrived = await clerk.wait_for("msg:new", lambda d: (d["message"].get("card") or {}).get(
        "card_id") == card_id)
    assert [a["id"] for a in arrived["message"]["card"]["actions"]] == ["register"]
    done = await decide(clerk, card_id, "register")
    assert done["status"] == "registered"
    assert [t["decision"] for t in done["timeline"]] == ["approve", "approve", "register"]
    short = {**trip, "out_of_province": False}
    near = (await staff.ok("flow:start", {"flow": "trip", "form": short}))["card_id"]
    await decide(director, near)
    assert (await deputy.ok("flow:list", {"box": "todo"}))["counts"]["todo"] == 0
    assert (await clerk.ok("flow:list", {"box": "todo"}))["items"][0]["card_id"] == near


async def test_supplies_are_approved_then_issued(connect: Connect) -> None:
    staff, head, clerk = [await connect(u) for u in ("staff07", "fin_head", "clerk")]
    bad = await staff.call("flow:start", {"flow": "supplies", "form": {
        "items": [{"name": "A4纸", "quantity": 0}]}})
    assert error_code(bad) == "bad_request" and "form.items.0.quantity" in bad["error"][
        "message"]
    card_id = (await staff.ok("flow:start", {"flow": "supplies", "form": {
        "items": [{"name": "A4纸", "quantity": 5}, {"name": "签字笔", "quantity": 10}]}}))[
        "card_id"]
    await decide(head, card_id)
    issued = await decide(clerk, card_id, "issue")
    assert issued["status"] == "issued"
    assert issued["fields"] == [{"label": "物品", "value": "A4纸×5、签字笔×10"}]


async def test_circulation_completes_when_its_rule_is_met(connect: Connect) -> None:
    sender = await connect("clerk")
    signers = [await connect(u) for u in ("staff01", "staff02", "staff03")]

    async def circulate(rule: Any) -> str:
        form = {"title": "关于年终总结的通知", "to": ["staff01", "staff02", "staff03"],
                "rule": rule}
        return str((await sender.ok("flow:start", {"flow": "circulation", "form": form}))[
            "card_id"])

    for rule, signatures_needed in (("all", 3), ("any", 1), (2, 2)):
        card_id = await circulate(rule)
        for n, signer in enumerate(signers[:signatures_needed], start=1):
            state = await decide(signer, card_id, "sign", comment=f"已阅{n}")
            assert state["status"] == ("done" if n == signatures_needed else "pending")
            assert state["actions"] == []
        if signatures_needed < 3:
            late = signers[signatures_needed]
            card = (await late.ok("card:get", {"card_id": card_id}))["card"]
            assert card["status"] == "done" and card["actions"] == []
    unsigned = await circulate("all")
    reply = await signers[0].call("card:act", {
        "card_id": unsigned, "action": "sign", "version": 1, "idempotency_key": "x",
        "inputs": {}})
    assert error_code(reply) == "bad_request" and "inputs.comment" in reply["error"]["message"]
    ghost = await sender.call("flow:start", {"flow": "circulation", "form": {
        "title": "x", "to": ["nobody"], "rule": "all"}})
    assert error_code(ghost) == "bad_request"


async def test_an_acting_substitute_takes_the_steps_while_the_delegation_lasts(
        connect: Connect) -> None:
    staff, director, acting = [await connect(u) for u in ("staff03", "director", "staff01")]
    assert (await director.ok("flow:delegate", {"to": "staff01"}))["substitute"] == "staff01"
    card_id = (await staff.ok("flow:start", leave(1)))["card_id"]
    assert (await director.ok("flow:list", {"box": "todo"}))["counts"]["todo"] == 0
    done = await decide(acting, card_id)
    assert done["status"] == "approved" and done["timeline"][0]["actor_id"] == "staff01"
    await director.ok("flow:delegate", {"to": "staff01", "until": "2020-01-01T00:00:00Z"})
    expired = (await staff.ok("flow:start", leave(1)))["card_id"]
    assert (await director.ok("flow:list", {"box": "todo"}))["items"][0]["card_id"] == expired
    await director.ok("flow:delegate", {"to": None})
    for payload, field in [({"to": "director"}, "to"), ({"to": "ghost"}, "to"),
                           ({"to": "staff01", "until": "soon"}, "until")]:
        reply = await director.call("flow:delegate", payload)
        assert error_code(reply) == "bad_request" and field in reply["error"]["message"]


async def test_a_step_reminds_before_its_deadline_and_escalates_after_it(
        start_node, connect: Connect, fake_clock, http) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0)
    staff, director, deputy = [await connect(u, on=node) for u in ("staff03", "director",
                                                                   "deputy")]

    card_id = (await staff.ok("flow:start", leave(1)))["card_id"]
    await fake_clock.advance(21 * 3600)
    await fake_clock.advance(6)
    await staff.ok("ping")
    assert not [d for d in director.received("msg:new") if titled("催办")(d)]
    await fake_clock.advance(3600)  # two hours before the 24-hour deadline
    await fake_clock.advance(6)
    await director.wait_for("msg:new", titled("催办"))
    assert not [d for d in deputy.received("msg:new") if titled("逾期")(d)]
    await fake_clock.advance(2 * 3600)
    await fake_clock.advance(6)
    overdue = await deputy.wait_for("msg:new", titled("逾期"))
    assert "未办理" in overdue["message"]["card"]["title"]
    assert len([d for d in director.received("msg:new") if titled("催办")(d)]) == 1
    assert (await decide(director, card_id))["status"] == "approved"
    api = Api(node.url, http)
    status, body = await api.call("GET", f"/api/v1/flows/{card_id}/audit",
                                  token=await api.token("staff03"))
    assert status == 200, body
    assert [e["event"] for e in body["entries"]] == ["submit", "escalated", "approve",
                                                     "approved"]


async def test_two_nodes_checking_one_due_step_send_each_notice_once(
        start_node, fake_clock) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(clock=fake_clock)
    sent: list[tuple[str, str]] = []

    async def notice(entry: dict[str, Any], kind: str) -> None:
        sent.append((entry["_id"], kind))

    # A database of their own, so that the node's own checker cannot take the entry first.
    db = node.mongo[f"{node.db.name}_deadline_race"]
    nodes = [Deadlines(db, fake_clock, check_every=3600.0) for _ in range(2)]
    for deadlines in nodes:
        deadlines.start(notice)
    await nodes[0].set("race-card", "s1", ["director"], hours=1.0)
    await fake_clock.advance(3601)
    await asyncio.gather(*(d.check() for d in nodes), *(d.check() for d in nodes))
    for deadlines in nodes:
        await deadlines.stop()
    assert sorted(sent) == [("race-card", "escalate"), ("race-card", "remind")]
