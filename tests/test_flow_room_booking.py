"""会议室申请: the unit's room managers decide; the first decision settles it."""

from __future__ import annotations

from typing import Any

from tests.chat_helpers import error_code
from tests.conftest import Connect
from tests.flow_helpers import actions_of, card_message, decide, titled


def booking(**extra: Any) -> dict[str, Any]:
    return {"flow": "room_booking", "form": {
        "room": "r-301", "room_name": "301 会议室", "start": "2026-12-01T09:00:00+08:00",
        "end": "2026-12-01T10:30:00+08:00", "subject": "周例会", "attendees": 12, **extra}}


async def test_a_room_manager_approves_a_booking_and_the_applicant_is_told(
        connect: Connect) -> None:
    staff, manager = [await connect(u) for u in ("staff05", "roommgr")]
    started = await staff.ok("flow:start", booking())
    arrived = await manager.wait_for("msg:new", card_message(started["card_id"]))
    card = arrived["message"]["card"]
    assert actions_of(card) == ["approve", "reject"]
    assert {f["label"]: f["value"] for f in card["fields"]}["开始"] == "2026-12-01 09:00"
    assert (await decide(manager, started["card_id"]))["status"] == "approved"
    await staff.wait_for("msg:new", titled("已办结"))


async def test_a_rejected_booking_ends_with_the_reason(connect: Connect) -> None:
    staff, manager = [await connect(u) for u in ("staff05", "roommgr")]
    card_id = (await staff.ok("flow:start", booking()))["card_id"]
    rejected = await decide(manager, card_id, "reject", comment="该时段已安排检查")
    assert rejected["status"] == "rejected"
    assert rejected["timeline"][-1]["comment"] == "该时段已安排检查"


async def test_a_booking_form_names_what_is_wrong(connect: Connect) -> None:
    staff = await connect("staff05")
    for extra, name in (({"end": "2026-12-01T08:00:00+08:00"}, "form.end"),
                        ({"start": "2026-12-01T09:00:00"}, "form.start"),
                        ({"end": "2026-12-03T09:00:00+08:00"}, "form.end"),
                        ({"attendees": 0}, "form.attendees"),
                        ({"subject": ""}, "form.subject"),
                        ({"floor": 3}, "form.floor")):
        reply = await staff.call("flow:start", booking(**extra))
        assert error_code(reply) == "bad_request" and name in reply["error"]["message"]
