"""销假: after an approved leave the applicant reports back once; hr records the actual days."""

from __future__ import annotations

import asyncio

from tests.chat_helpers import error_code
from tests.conftest import Connect
from tests.flow_helpers import actions_of, card_message, decide, leave, titled


def report_back(of: str, actual_end: str, **extra: str) -> dict[str, object]:
    return {"flow": "leave_return", "form": {"of": of, "actual_end": actual_end, **extra}}


async def test_a_report_back_goes_to_hr_who_records_the_actual_days(connect: Connect) -> None:
    staff, director, deputy, hr = [await connect(u) for u in ("staff02", "director",
                                                               "deputy", "hr")]
    leave_id = (await staff.ok("flow:start", leave(3)))["card_id"]
    await decide(director, leave_id)
    assert (await decide(deputy, leave_id))["status"] == "approved"

    started = await staff.ok("flow:start", report_back(leave_id, "2026-12-02", note="提前返岗"))
    arrived = await hr.wait_for("msg:new", card_message(started["card_id"]))
    card = arrived["message"]["card"]
    assert actions_of(card) == ["record"]
    fields = {f["label"]: f["value"] for f in card["fields"]}
    assert fields["原假期"] == "2026-12-01 至 2026-12-03（3天）"
    assert (fields["实际天数"], fields["对比"]) == ("2", "提前1天")
    recorded = await decide(hr, started["card_id"], "record")
    assert recorded["status"] == "recorded"
    assert [t["step"] for t in recorded["timeline"]] == ["人事登记"]
    await staff.wait_for("msg:new", titled("已办结：陈二的销假"))


async def test_only_ones_own_approved_leave_can_be_reported_back_and_only_once(
        connect: Connect) -> None:
    staff, other, director = [await connect(u) for u in ("staff02", "staff03", "director")]
    pending = (await staff.ok("flow:start", leave(1)))["card_id"]
    reply = await staff.call("flow:start", report_back(pending, "2026-12-01"))
    assert error_code(reply) == "bad_request" and "form.of" in reply["error"]["message"]
    assert (await decide(director, pending))["status"] == "approved"
    reply = await other.call("flow:start", report_back(pending, "2026-12-01"))
    assert error_code(reply) == "bad_request" and "form.of" in reply["error"]["message"]
    reply = await staff.call("flow:start", report_back(pending, "2026-11-30"))
    assert error_code(reply) == "bad_request" and "actual_end" in reply["error"]["message"]

    # Two devices report back at the same moment: one starts, the other is told.
    replies = await asyncio.gather(*(staff.call("flow:start", report_back(pending, "2026-12-01"))
                                     for _ in range(2)))
    assert sorted(r["ok"] for r in replies) == [False, True]
    assert error_code(next(r for r in replies if not r["ok"])) == "conflict"
    again = await staff.call("flow:start", report_back(pending, "2026-12-01"))
    assert error_code(again) == "conflict"
    mine = await staff.ok("flow:list", {"box": "mine"})
    assert [i["flow"] for i in mine["items"]].count("leave_return") == 1
