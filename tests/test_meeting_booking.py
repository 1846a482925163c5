"""A meeting and its room (PROTOCOL §6, Meetings and bookings): a meeting linked to a booking
takes its room, time and attendees; invitees get an invitation card with the agenda and a join
link; cancelling the booking cancels the meeting and tells everyone; hosts edit the agenda."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Api, Client, Connect
from tests.flow_helpers import titled
from tests.test_room_bookings import BOOKINGS, MEDIUM, People, local

AGENDA = [{"title": "上周工作回顾", "minutes": 15}, {"title": "预算调整", "presenter": "staff03"}]


def field(card: dict[str, Any], label: str) -> str:
    return next(f["value"] for f in card["fields"] if f["label"] == label)


async def booked_meeting(people: People, organiser: Client,
                         **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """staff01 books the medium room for tomorrow with staff02 attending, and holds a
    meeting in it with staff03 invited too."""
    booking = await people.book("staff01", attendees=["staff02"])
    created = await organiser.ok("meeting:create", {
        "title": "预算评审会", "invitees": ["staff03"], "booking_id": booking["id"],
        "agenda": AGENDA, **extra})
    return booking, created["meeting"]


async def test_a_meeting_in_a_booked_room_takes_its_room_time_and_attendees(
        connect: Connect, api: Api) -> None:
    people = People(api)
    staff01 = await connect("staff01")
    booking, meeting = await booked_meeting(people, staff01)
    assert (meeting["room_id"], meeting["room_name"]) == (MEDIUM, "第二会议室")
    assert (meeting["start"], meeting["end"]) == (booking["start"], booking["end"])
    assert sorted(meeting["invitees"]) == ["staff02", "staff03"]
    assert meeting["status"] == "scheduled" and meeting["booking_id"] == booking["id"]
    assert [item["title"] for item in meeting["agenda"]] == ["上周工作回顾", "预算调整"]
    assert len({item["id"] for item in meeting["agenda"]}) == 2
    assert meeting["agenda"][1]["presenter"] == "staff03"


async def test_invitees_get_a_card_with_time_room_agenda_and_a_join_link(
        connect: Connect, api: Api) -> None:
    people = People(api)
    staff01, staff02 = await connect("staff01"), await connect("staff02")
    _, meeting = await booked_meeting(people, staff01)
    message = await staff02.wait_for("msg:new", titled("会议邀请"))
    card = message["message"]["card"]
    assert card["card_id"] == meeting["card_id"]
    assert field(card, "会议室") == "第二会议室"
    assert field(card, "时间").endswith(f"{local(1, 10)[11:16]}-{local(1, 11)[11:16]}")
    assert "1. 上周工作回顾" in field(card, "议程") and "2. 预算调整" in field(card, "议程")
    assert card["actions"] == [{"id": "join", "label": "进入会议", "style": "primary",
                                "url": f"/meetings/{meeting['id']}"}]
    refused = await staff02.call("card:act", {
        "card_id": card["card_id"], "action": "join", "version": card["version"],
        "idempotency_key": "join-1", "inputs": {}})
    assert refused["error"]["code"] == "bad_request"
    assert "/meetings/" in refused["error"]["message"]


async def test_only_who_booked_the_room_links_a_meeting_to_it(
        connect: Connect, api: Api) -> None:
    booking = await People(api).book("staff01")
    staff02 = await connect("staff02")
    refused = await staff02.call("meeting:create", {"title": "借用", "booking_id": booking["id"]})
    assert refused["error"]["code"] == "forbidden"
    missing = await staff02.call("meeting:create", {"title": "无", "booking_id": "room-x~none"})
    assert missing["error"]["code"] == "not_found"


async def test_a_booking_holds_one_meeting_when_two_creates_race(
        connect: Connect, api: Api) -> None:
    booking = await People(api).book("staff01")
    staff01 = await connect("staff01")
    answers = await asyncio.gather(*(staff01.call("meeting:create", {
        "title": f"会{n}", "booking_id": booking["id"]}) for n in range(2)))
    won = [a["data"]["meeting"] for a in answers if a.get("ok")]
    lost = [a["error"] for a in answers if not a.get("ok")]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0]["code"] == "conflict" and lost[0]["details"]["meeting_id"] == won[0]["id"]
    later = await staff01.call("meeting:create", {"title": "又一个", "booking_id": booking["id"]})
    assert later["error"]["code"] == "conflict"


async def test_a_cancelled_booking_holds_no_new_meeting(connect: Connect, api: Api) -> None:
    people = People(api)
    booking = await people.book("staff01")
    status, _ = await people.call("staff01", "DELETE", f"{BOOKINGS}/{booking['id']}")
    assert status == 200
    staff01 = await connect("staff01")
    refused = await staff01.call("meeting:create", {"title": "会", "booking_id": booking["id"]})
    assert refused["error"]["code"] == "conflict"


async def test_cancelling_the_booking_cancels_the_meeting_and_tells_everyone_invited(
        connect: Connect, api: Api) -> None:
    people = People(api)
    staff01, staff03 = await connect("staff01"), await connect("staff03")
    booking, meeting = await booked_meeting(people, staff01)
    await staff03.wait_for("msg:new", titled("会议邀请"))
    status, _ = await people.call("staff01", "DELETE", f"{BOOKINGS}/{booking['id']}")
    assert status == 200
    notice = await staff03.wait_for("msg:new", titled("会议已取消"))
    assert "cancelled by the booker" in field(notice["message"]["card"], "取消原因")
    update = await staff03.wait_for(
        "card:update", lambda d: d["card_id"] == meeting["card_id"] and
        d["card"]["status"] == "cancelled")
    assert update["card"]["actions"] == []
    refused = await staff03.call("meeting:join", {"meeting_id": meeting["id"]})
    assert refused["error"]["code"] == "gone"
    assert "cancelled" in refused["error"]["message"]


async def test_a_live_meeting_goes_on_when_its_booking_is_cancelled(
        connect: Connect, api: Api) -> None:
    people = People(api)
    staff01 = await connect("staff01")
    booking, meeting = await booked_meeting(people, staff01)
    await staff01.ok("meeting:join", {"meeting_id": meeting["id"]})
    status, _ = await people.call("staff01", "DELETE", f"{BOOKINGS}/{booking['id']}")
    assert status == 200
    await staff01.ok("meeting:leave", {"meeting_id": meeting["id"]})
    rejoined = await staff01.ok("meeting:join", {"meeting_id": meeting["id"]})
    assert rejoined["meeting"]["status"] == "live"


async def test_a_booking_request_that_asks_for_a_meeting_books_both(
        connect: Connect, api: Api) -> None:
    people = People(api)
    staff02 = await connect("staff02")
    status, reply = await people.call("staff01", "POST", BOOKINGS, {
        "room_id": MEDIUM, "title": "季度会", "start": local(1, 14), "end": local(1, 15),
        "attendees": ["staff02"], "meeting": {"agenda": AGENDA, "invitees": ["staff03"]}})
    assert status == 201, reply
    meeting = reply["meeting"]
    assert meeting["booking_id"] == reply["booking"]["id"] and meeting["title"] == "季度会"
    assert sorted(meeting["invitees"]) == ["staff02", "staff03"]
    card = (await staff02.wait_for("msg:new", titled("会议邀请")))["message"]["card"]
    assert card["card_id"] == meeting["card_id"]


async def test_a_booking_request_whose_meeting_is_refused_books_nothing(api: Api) -> None:
    people = People(api)
    wanted = {"room_id": MEDIUM, "title": "季度会", "start": local(1, 16), "end": local(1, 17)}
    status, reply = await people.call("staff01", "POST", BOOKINGS, {
        **wanted, "meeting": {"invitees": ["nobody-like-this"]}})
    assert status == 400 and reply["error"]["details"]["user_ids"] == ["nobody-like-this"]
    status, reply = await people.call("staff01", "POST", BOOKINGS, {
        **wanted, "meeting": {"agenda": [{"title": ""}]}})
    assert status == 400 and reply["error"]["details"]["fields"][0]["field"] == \
        "meeting.agenda.0.title"
    status, reply = await people.call("staff02", "POST", BOOKINGS, wanted)
    assert status == 201, "the refused requests left the slot free"


async def test_a_host_cancels_a_scheduled_meeting_and_its_room_is_freed(
        connect: Connect, api: Api) -> None:
    people = People(api)
    staff01, staff02 = await connect("staff01"), await connect("staff02")
    booking, meeting = await booked_meeting(people, staff01)
    refused = await staff02.call("meeting:cancel", {"meeting_id": meeting["id"]})
    assert refused["error"]["code"] == "forbidden"
    cancelled = await staff01.ok("meeting:cancel", {"meeting_id": meeting["id"],
                                                    "reason": "领导出差"})
    assert cancelled["meeting"]["status"] == "cancelled"
    assert cancelled["meeting"]["reason"] == "领导出差"
    assert (await people.get(booking["id"]))["status"] == "cancelled"
    notice = await staff02.wait_for("msg:new", titled("会议已取消"))
    assert field(notice["message"]["card"], "取消原因") == "领导出差"
    twice = await staff01.ok("meeting:cancel", {"meeting_id": meeting["id"]})
    assert twice["meeting"]["reason"] == "领导出差"
    await asyncio.sleep(0.3)
    assert len([m for m in staff02.received("msg:new") if titled("会议已取消")(m)]) == 1


async def test_a_live_meeting_is_ended_not_cancelled(connect: Connect) -> None:
    chief = await connect("chief")
    meeting = (await chief.ok("meeting:create", {"title": "例会"}))["meeting"]
    await chief.ok("meeting:join", {"meeting_id": meeting["id"]})
    refused = await chief.call("meeting:cancel", {"meeting_id": meeting["id"]})
    assert refused["error"]["code"] == "conflict"


async def test_hosts_edit_the_agenda_and_items_keep_their_ids(
        connect: Connect, api: Api) -> None:
    people = People(api)
    staff01, staff03 = await connect("staff01"), await connect("staff03")
    _, meeting = await booked_meeting(people, staff01)
    first, second = meeting["agenda"]
    edited = (await staff01.ok("meeting:agenda", {
        "meeting_id": meeting["id"], "agenda_version": 0,
        "agenda": [{"id": second["id"], "title": "预算调整（修订）"}, {"title": "其他事项"}]}
    ))["meeting"]
    assert edited["agenda"][0]["id"] == second["id"]
    assert edited["agenda"][1]["id"] not in (first["id"], second["id"])
    assert edited["agenda_version"] == 1
    pushed = await staff03.wait_for("meeting:updated",
                                    lambda d: d["meeting"]["agenda_version"] == 1)
    assert pushed["meeting"]["agenda"] == edited["agenda"]
    update = await staff03.wait_for("card:update", lambda d: d["card_id"] == meeting["card_id"])
    assert "1. 预算调整（修订）" in field(update["card"], "议程")
    assert "上周工作回顾" not in field(update["card"], "议程")
    staff02 = await connect("staff02")
    refused = await staff02.call("meeting:agenda", {
        "meeting_id": meeting["id"], "agenda_version": 1, "agenda": []})
    assert refused["error"]["code"] == "forbidden"
    unknown = await staff01.call("meeting:agenda", {
        "meeting_id": meeting["id"], "agenda_version": 1,
        "agenda": [{"id": "item_nothere", "title": "x"}]})
    assert unknown["error"]["code"] == "bad_request"


async def test_of_two_hosts_editing_the_same_agenda_at_once_the_second_gets_conflict(
        connect: Connect) -> None:
    chief, deputy = await connect("chief"), await connect("deputy")
    meeting = (await chief.ok("meeting:create", {
        "title": "党组会", "hosts": ["deputy"], "agenda": [{"title": "学习"}]}))["meeting"]
    assert meeting["hosts"] == ["chief", "deputy"]
    answers = await asyncio.gather(
        chief.call("meeting:agenda", {"meeting_id": meeting["id"], "agenda_version": 0,
                                      "agenda": [{"title": "甲"}]}),
        deputy.call("meeting:agenda", {"meeting_id": meeting["id"], "agenda_version": 0,
                                       "agenda": [{"title": "乙"}]}))
    won = [a["data"]["meeting"] for a in answers if a.get("ok")]
    lost = [a["error"] for a in answers if not a.get("ok")]
    assert len(won) == 1 and len(lost) == 1 and lost[0]["code"] == "conflict"
    assert lost[0]["details"]["meeting"]["agenda"] == won[0]["agenda"]


async def test_a_meeting_without_a_room_has_its_own_time_or_none(connect: Connect) -> None:
    chief = await connect("chief")
    timed = (await chief.ok("meeting:create", {
        "title": "视频会", "start": "2026-12-01T10:00:00+08:00",
        "end": "2026-12-01T11:00:00+08:00"}))["meeting"]
    assert (timed["start"], timed["end"]) == ("2026-12-01T02:00:00.000Z",
                                              "2026-12-01T03:00:00.000Z")
    assert timed["room_id"] is None
    backwards = await chief.call("meeting:create", {
        "title": "倒", "start": "2026-12-01T11:00:00+08:00", "end": "2026-12-01T10:00:00+08:00"})
    assert backwards["error"]["code"] == "bad_request"
    naive = await chief.call("meeting:create", {"title": "无时区", "start": "2026-12-01T10:00:00",
                                                "end": "2026-12-01T11:00:00"})
    assert naive["error"]["code"] == "bad_request"


async def test_whoever_may_join_reads_the_meeting_and_no_one_else(connect: Connect) -> None:
    chief, clerk, staff = await connect("chief"), await connect("clerk"), \
        await connect("staff01")
    meeting = (await chief.ok("meeting:create", {
        "title": "例会", "invitees": ["clerk"], "agenda": [{"title": "一"}]}))["meeting"]
    seen = (await clerk.ok("meeting:get", {"meeting_id": meeting["id"]}))["meeting"]
    assert seen == meeting
    refused = await staff.call("meeting:get", {"meeting_id": meeting["id"]})
    assert refused["error"]["code"] == "forbidden"
    missing = await clerk.call("meeting:get", {"meeting_id": "mtg_none"})
    assert missing["error"]["code"] == "not_found"
