"""Sign-in (签到) and attendance of paperless meetings through the real socket: each member
signs in once however many requests race, hosts see the roll-up (signed in, on approved
leave, absent) and are pushed each sign-in."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from core.clock import FakeClock
from signaling.app import Node
from tests.chat_helpers import error_code
from tests.conftest import Api, Client, Connect, NodeFactory
from tests.flow_helpers import decide
from tests.test_meetings import create_meeting

# The fake clock starts at 2026-11-22 10:00 in Asia/Shanghai.
TODAY, TOMORROW = "2026-11-22", "2026-11-23"


@pytest.fixture
async def clocked(start_node: NodeFactory, fake_clock: FakeClock) -> Node:
    """A node whose clock (so whose "today") is fixed, for the leave rules."""
    return await start_node(clock=fake_clock)


def checkin(meeting_id: str, via: str = "meeting") -> dict[str, str]:
    return {"meeting_id": meeting_id, "via": via}


async def attendance(host: Client, meeting_id: str) -> dict[str, Any]:
    roll: dict[str, Any] = (await host.ok("meeting:attendance",
                                          {"meeting_id": meeting_id}))["attendance"]
    return roll


def statuses(roll: dict[str, Any]) -> dict[str, str]:
    return {m["user_id"]: m["status"] for m in roll["members"]}


async def approved_leave(applicant: Client, approvers: list[Client], start: str,
                         end: str) -> str:
    form = {"leave_type": "annual", "start": start, "end": end, "reason": "回老家"}
    card_id = str((await applicant.ok("flow:start", {"flow": "leave", "form": form}))["card_id"])
    for approver in approvers:
        decided = await decide(approver, card_id)
    assert decided["status"] == "approved"
    return card_id


async def book_tomorrow(node: Node, http: aiohttp.ClientSession, booker: str) -> str:
    api = Api(node.url, http)
    status, reply = await api.call("POST", "/api/v1/bookings", {
        "room_id": "room-main-302", "title": "周例会", "start": f"{TOMORROW}T10:00:00+08:00",
        "end": f"{TOMORROW}T11:00:00+08:00"}, token=await api.token(booker))
    assert status == 201, reply
    return str(reply["booking"]["id"])


async def test_a_member_signs_in_once_and_the_host_sees_them_signed_in(
        connect: Connect) -> None:
    chief, staff = await connect("chief"), await connect("staff01")
    meeting_id = await create_meeting(chief, ["staff01", "staff02"])
    signed = (await staff.ok("meeting:checkin", checkin(meeting_id)))["checkin"]
    assert (signed["meeting_id"], signed["user_id"], signed["via"]) == \
        (meeting_id, "staff01", "meeting")
    roll = await attendance(chief, meeting_id)
    assert statuses(roll) == {"chief": "absent", "staff01": "signed_in", "staff02": "absent"}
    mine = next(m for m in roll["members"] if m["user_id"] == "staff01")
    assert (mine["at"], mine["via"]) == (signed["at"], "meeting")
    assert roll["totals"] == {"members": 3, "signed_in": 1, "on_leave": 0, "absent": 2}


async def test_a_second_sign_in_by_the_same_member_is_a_conflict(connect: Connect) -> None:
    chief, staff = await connect("chief"), await connect("staff01")
    meeting_id = await create_meeting(chief, ["staff01"])
    first = (await staff.ok("meeting:checkin", checkin(meeting_id)))["checkin"]
    again = await staff.call("meeting:checkin", checkin(meeting_id))
    assert error_code(again) == "conflict"
    mine = next(m for m in (await attendance(chief, meeting_id))["members"]
                if m["user_id"] == "staff01")
    assert mine["at"] == first["at"]


async def test_two_sign_ins_racing_from_one_member_store_one_and_conflict_the_other(
        connect: Connect, node: Node) -> None:
    chief, phone, desktop = await connect("chief"), await connect("staff01"), \
        await connect("staff01")
    meeting_id = await create_meeting(chief, ["staff01"])
    replies = await asyncio.gather(phone.call("meeting:checkin", checkin(meeting_id)),
                                   desktop.call("meeting:checkin", checkin(meeting_id)))
    assert sorted(r["ok"] for r in replies) == [False, True]
    assert error_code(next(r for r in replies if not r["ok"])) == "conflict"
    stored = await node.db["meeting_checkins"].count_documents({"meeting_id": meeting_id})
    assert stored == 1
    assert (await attendance(chief, meeting_id))["totals"]["signed_in"] == 1


async def test_many_members_signing_in_at_once_all_count_and_the_host_is_told_of_each(
        connect: Connect) -> None:
    staff_ids = [f"staff{n:02d}" for n in range(1, 21)]
    chief = await connect("chief")
    members = [await connect(u) for u in staff_ids]
    meeting_id = await create_meeting(chief, staff_ids)
    await asyncio.gather(*(m.ok("meeting:checkin", checkin(meeting_id)) for m in members))
    roll = await attendance(chief, meeting_id)
    assert roll["totals"] == {"members": 21, "signed_in": 20, "on_leave": 0, "absent": 1}
    await chief.wait_for("meeting:attendance",
                         lambda p: p["totals"]["signed_in"] == 20)
    told = {p["change"]["user_id"] for p in chief.received("meeting:attendance")}
    assert told == set(staff_ids)


async def test_hosts_are_pushed_each_sign_in_and_other_members_are_not(
        connect: Connect) -> None:
    chief, staff01, staff02 = [await connect(u) for u in ("chief", "staff01", "staff02")]
    meeting_id = await create_meeting(chief, ["staff01", "staff02"])
    signed = (await staff01.ok("meeting:checkin", checkin(meeting_id)))["checkin"]
    pushed = await chief.wait_for("meeting:attendance")
    assert pushed == {"meeting_id": meeting_id,
                      "change": {"user_id": "staff01", "status": "signed_in",
                                 "at": signed["at"], "via": "meeting"},
                      "totals": {"members": 3, "signed_in": 1}}
    await chief.ok("meeting:checkin", checkin(meeting_id))
    await chief.wait_for("meeting:attendance", lambda p: p["change"]["user_id"] == "chief")
    for member in (staff01, staff02):
        await member.ok("ping", {})  # anything sent to them with the hosts' pushes is in
        assert member.received("meeting:attendance") == []


async def test_without_a_booking_a_leave_covering_today_is_on_leave_and_others_absent(
        clocked: Node, connect: Connect) -> None:
    chief, director, staff01, staff02 = [await connect(u, on=clocked) for u in (
        "chief", "director", "staff01", "staff02")]
    await approved_leave(staff01, [director], TODAY, TODAY)
    await approved_leave(staff02, [director], TOMORROW, TOMORROW)
    form = {"leave_type": "annual", "start": TODAY, "end": TODAY, "reason": "未批"}
    await (await connect("staff03", on=clocked)).ok("flow:start",
                                                    {"flow": "leave", "form": form})
    meeting_id = await create_meeting(chief, ["staff01", "staff02", "staff03"])
    roll = await attendance(chief, meeting_id)
    assert roll["day"] == TODAY
    assert statuses(roll) == {"chief": "absent", "staff01": "on_leave", "staff02": "absent",
                              "staff03": "absent"}
    assert roll["totals"] == {"members": 4, "signed_in": 0, "on_leave": 1, "absent": 3}


async def test_with_a_booked_room_the_leave_must_cover_the_bookings_day(
        clocked: Node, connect: Connect, http: aiohttp.ClientSession) -> None:
    chief, director, staff01, staff02 = [await connect(u, on=clocked) for u in (
        "chief", "director", "staff01", "staff02")]
    await approved_leave(staff01, [director], TOMORROW, TOMORROW)
    await approved_leave(staff02, [director], TODAY, TODAY)
    booking_id = await book_tomorrow(clocked, http, "chief")
    meeting_id = await create_meeting(chief, ["staff01", "staff02"], booking_id=booking_id)
    roll = await attendance(chief, meeting_id)
    assert roll["day"] == TOMORROW
    assert statuses(roll) == {"chief": "absent", "staff01": "on_leave", "staff02": "absent"}


async def test_a_member_on_leave_who_signs_in_counts_as_signed_in(
        clocked: Node, connect: Connect) -> None:
    chief, director, staff01 = [await connect(u, on=clocked) for u in (
        "chief", "director", "staff01")]
    await approved_leave(staff01, [director], TODAY, TODAY)
    meeting_id = await create_meeting(chief, ["staff01"])
    await staff01.ok("meeting:checkin", checkin(meeting_id))
    assert statuses(await attendance(chief, meeting_id))["staff01"] == "signed_in"


async def test_a_leave_reported_back_before_the_meeting_day_no_longer_covers_it(
        clocked: Node, connect: Connect, http: aiohttp.ClientSession) -> None:
    chief, director, deputy, staff01 = [await connect(u, on=clocked) for u in (
        "chief", "director", "deputy", "staff01")]
    leave_id = await approved_leave(staff01, [director, deputy], TODAY, TOMORROW)
    booking_id = await book_tomorrow(clocked, http, "chief")
    meeting_id = await create_meeting(chief, ["staff01"], booking_id=booking_id)
    assert statuses(await attendance(chief, meeting_id))["staff01"] == "on_leave"
    await staff01.ok("flow:start", {"flow": "leave_return",
                                    "form": {"of": leave_id, "actual_end": TODAY}})
    assert statuses(await attendance(chief, meeting_id))["staff01"] == "absent"


async def test_only_hosts_see_the_attendance(connect: Connect) -> None:
    chief, invitee, outsider = [await connect(u) for u in ("chief", "staff01", "staff02")]
    meeting_id = await create_meeting(chief, ["staff01"])
    for who in (invitee, outsider):
        refused = await who.call("meeting:attendance", {"meeting_id": meeting_id})
        assert error_code(refused) == "forbidden"
    missing = await chief.call("meeting:attendance", {"meeting_id": "mtg_nope"})
    assert error_code(missing) == "not_found"


async def test_someone_not_on_the_roll_cannot_sign_in_even_to_an_open_meeting(
        connect: Connect) -> None:
    chief, outsider = await connect("chief"), await connect("staff01")
    for meeting_id in (await create_meeting(chief, ["clerk"]),
                       await create_meeting(chief, [], open=True)):
        refused = await outsider.call("meeting:checkin", checkin(meeting_id))
        assert error_code(refused) == "forbidden"
    missing = await outsider.call("meeting:checkin", checkin("mtg_nope"))
    assert error_code(missing) == "not_found"


async def test_signing_in_from_the_room_needs_a_booked_room(
        clocked: Node, connect: Connect, http: aiohttp.ClientSession) -> None:
    chief, staff = await connect("chief", on=clocked), await connect("staff01", on=clocked)
    unbooked = await create_meeting(chief, ["staff01"])
    refused = await staff.call("meeting:checkin", checkin(unbooked, "room"))
    assert error_code(refused) == "bad_request" and refused["error"]["message"].startswith("via")
    unknown_way = await staff.call("meeting:checkin", checkin(unbooked, "phone"))
    assert error_code(unknown_way) == "bad_request"
    booked = await create_meeting(chief, ["staff01"],
                                  booking_id=await book_tomorrow(clocked, http, "chief"))
    signed = (await staff.ok("meeting:checkin", checkin(booked, "room")))["checkin"]
    assert signed["via"] == "room"
    mine = next(m for m in (await attendance(chief, booked))["members"]
                if m["user_id"] == "staff01")
    assert (mine["status"], mine["via"]) == ("signed_in", "room")


async def test_signing_in_after_the_meeting_ended_is_gone(connect: Connect) -> None:
    chief, staff = await connect("chief"), await connect("staff01")
    meeting_id = await create_meeting(chief, ["staff01"])
    await chief.ok("meeting:end", {"meeting_id": meeting_id})
    late = await staff.call("meeting:checkin", checkin(meeting_id))
    assert error_code(late) == "gone"
    assert (await attendance(chief, meeting_id))["totals"]["absent"] == 2
