"""Minutes (纪要) (PROTOCOL §6, paperless): after the meeting a host drafts them against the
agenda with the attendance and the votes' results; sent, every host signs them on a
circulation card (会签); signed, they reach everyone on the roll."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Client, Connect
from tests.flow_helpers import decide, titled


async def held_meeting(chief: Client, clerk: Client) -> dict[str, Any]:
    """chief and deputy host, clerk and staff01 are invited; clerk signs in, a motion passes,
    the meeting ends."""
    meeting = (await chief.ok("meeting:create", {
        "title": "局务会", "hosts": ["deputy"], "invitees": ["clerk", "staff01"],
        "agenda": [{"title": "预算执行"}, {"title": "人事安排"}]}))["meeting"]
    await chief.ok("meeting:checkin", {"meeting_id": meeting["id"], "via": "meeting"})
    await clerk.ok("meeting:checkin", {"meeting_id": meeting["id"], "via": "meeting"})
    motion = (await chief.ok("meeting:motion:open", {
        "meeting_id": meeting["id"], "title": "同意预算调整", "options": ["同意", "反对"],
        "rule": "simple_majority", "anonymous": False}))["motion"]
    await chief.ok("meeting:vote", {"motion_id": motion["id"], "option": "同意"})
    await clerk.ok("meeting:vote", {"motion_id": motion["id"], "option": "同意"})
    await chief.ok("meeting:motion:close", {"motion_id": motion["id"]})
    await chief.ok("meeting:end", {"meeting_id": meeting["id"]})
    return meeting  # type: ignore[no-any-return]


def notes_for(meeting: dict[str, Any]) -> dict[str, str]:
    first, second = meeting["agenda"]
    return {first["id"]: "执行率 92%", second["id"]: "同意提名"}


async def test_a_host_drafts_the_minutes_once_the_meeting_has_ended(connect: Connect) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting = (await chief.ok("meeting:create", {
        "title": "例会", "invitees": ["clerk"], "agenda": [{"title": "一"}]}))["meeting"]
    early = await chief.call("meeting:minutes:save", {"meeting_id": meeting["id"],
                                                      "version": 0})
    assert early["error"]["code"] == "conflict"
    held = await held_meeting(chief, clerk)
    refused = await clerk.call("meeting:minutes:save", {"meeting_id": held["id"],
                                                        "version": 0})
    assert refused["error"]["code"] == "forbidden"
    minutes = (await chief.ok("meeting:minutes:save", {
        "meeting_id": held["id"], "version": 0, "summary": "会议决定调整预算。",
        "items": notes_for(held)}))["minutes"]
    assert minutes["status"] == "draft" and minutes["version"] == 1
    assert [(i["title"], i["notes"]) for i in minutes["items"]] == [
        ("预算执行", "执行率 92%"), ("人事安排", "同意提名")]
    totals = minutes["attendance"]["totals"]
    assert (totals["signed_in"], totals["absent"], totals["members"]) == (2, 2, 4)
    [motion] = minutes["motions"]
    assert motion["title"] == "同意预算调整" and motion["result"]["winner"] == "同意"
    unknown = await chief.call("meeting:minutes:save", {
        "meeting_id": held["id"], "version": 1, "items": {"item_nope": "x"}})
    assert unknown["error"]["code"] == "bad_request"
    hidden = await clerk.call("meeting:minutes", {"meeting_id": held["id"]})
    assert hidden["error"]["code"] == "not_found", "invitees see the minutes once signed"


async def test_of_two_hosts_saving_the_same_draft_at_once_the_second_gets_conflict(
        connect: Connect) -> None:
    chief, deputy, clerk = await connect("chief"), await connect("deputy"), \
        await connect("clerk")
    held = await held_meeting(chief, clerk)
    answers = await asyncio.gather(
        chief.call("meeting:minutes:save", {"meeting_id": held["id"], "version": 0,
                                            "summary": "甲"}),
        deputy.call("meeting:minutes:save", {"meeting_id": held["id"], "version": 0,
                                             "summary": "乙"}))
    won = [a["data"]["minutes"] for a in answers if a.get("ok")]
    lost = [a["error"] for a in answers if not a.get("ok")]
    assert len(won) == 1 and len(lost) == 1 and lost[0]["code"] == "conflict"
    assert lost[0]["details"]["minutes"]["summary"] == won[0]["summary"]
    stale = await deputy.call("meeting:minutes:save", {"meeting_id": held["id"], "version": 0})
    assert stale["error"]["code"] == "conflict"
    edited = await deputy.ok("meeting:minutes:save", {"meeting_id": held["id"], "version": 1,
                                                      "summary": "丙"})
    assert edited["minutes"]["version"] == 2 and edited["minutes"]["drafted_by"] == "deputy"


async def test_sent_minutes_are_signed_by_every_host_then_reach_the_whole_roll(
        connect: Connect) -> None:
    chief, deputy, clerk = await connect("chief"), await connect("deputy"), \
        await connect("clerk")
    staff01 = await connect("staff01")
    held = await held_meeting(chief, clerk)
    await chief.ok("meeting:minutes:save", {"meeting_id": held["id"], "version": 0,
                                            "summary": "会议决定调整预算。",
                                            "items": notes_for(held)})
    sent = (await chief.ok("meeting:minutes:send", {"meeting_id": held["id"],
                                                    "version": 1}))["minutes"]
    assert sent["status"] == "circulating" and sent["card_id"]
    frozen = await chief.call("meeting:minutes:save", {"meeting_id": held["id"],
                                                       "version": sent["version"]})
    assert frozen["error"]["code"] == "conflict"
    message = await deputy.wait_for(
        "msg:new", lambda d: (d["message"].get("card") or {}).get("card_id") == sent["card_id"])
    card = message["message"]["card"]
    assert card["flow"] == "circulation"
    content = next(f["value"] for f in card["fields"] if f["label"] == "内容")
    assert "1. 预算执行：执行率 92%" in content and "同意预算调整：同意 2，反对 0" in content
    assert [a["id"] for a in card["actions"]] == ["sign"]
    assert (await chief.ok("meeting:minutes", {"meeting_id": held["id"]}))["minutes"][
        "status"] == "circulating"
    await decide(deputy, sent["card_id"], "sign", comment="同意")
    notice = await staff01.wait_for("msg:new", titled("会议纪要：局务会（已签发）"))
    assert "会议决定调整预算。" in notice["message"]["card"]["fields"][0]["value"]
    signed = (await clerk.ok("meeting:minutes", {"meeting_id": held["id"]}))["minutes"]
    assert signed["status"] == "signed" and signed["signed_at"]
    outsider = await connect("staff02")
    refused = await outsider.call("meeting:minutes", {"meeting_id": held["id"]})
    assert refused["error"]["code"] == "forbidden"


async def test_two_sends_of_one_draft_make_one_circulation(connect: Connect) -> None:
    chief, deputy, clerk = await connect("chief"), await connect("deputy"), \
        await connect("clerk")
    held = await held_meeting(chief, clerk)
    await chief.ok("meeting:minutes:save", {"meeting_id": held["id"], "version": 0})
    answers = await asyncio.gather(
        chief.call("meeting:minutes:send", {"meeting_id": held["id"], "version": 1}),
        deputy.call("meeting:minutes:send", {"meeting_id": held["id"], "version": 1}))
    assert sorted(bool(a.get("ok")) for a in answers) == [False, True]
    lost = next(a["error"] for a in answers if not a.get("ok"))
    assert lost["code"] == "conflict"
    await asyncio.sleep(0.3)
    circulations = [m for m in deputy.received("msg:new") + chief.received("msg:new")
                    if (m["message"].get("card") or {}).get("flow") == "circulation"]
    assert len({m["message"]["card"]["card_id"] for m in circulations}) == 1


async def test_minutes_of_a_meeting_with_one_host_are_signed_by_sending_them(
        connect: Connect) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting = (await chief.ok("meeting:create", {"title": "碰头会", "invitees": ["clerk"]})
               )["meeting"]
    await chief.ok("meeting:end", {"meeting_id": meeting["id"]})
    await chief.ok("meeting:minutes:save", {"meeting_id": meeting["id"], "version": 0,
                                            "summary": "无异议"})
    sent = (await chief.ok("meeting:minutes:send", {"meeting_id": meeting["id"],
                                                    "version": 1}))["minutes"]
    assert sent["status"] == "signed" and sent["card_id"]
    await clerk.wait_for("msg:new", titled("会议纪要：碰头会（已签发）"))
