"""Bookings of meeting rooms (PROTOCOL §5, Bookings) through REST and the socket against real
nodes: booking, clashes however many race, recurring series, approval by the room's managers,
cancelling, checking in, release by the clock, the day grid and live room status."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from core.clock import FakeClock
from signaling.app import Node
from tests.conftest import Api, Client, Connect, NodeFactory
from tests.flow_helpers import card_message, decide, titled

BOOKINGS = "/api/v1/bookings"
TZ = ZoneInfo("Asia/Shanghai")
SMALL, MEDIUM, VIDEO, HALL = "room-main-301", "room-main-302", "room-main-501", "room-main-101"


def local(day: int, hour: int, minute: int = 0) -> str:
    """A local time `day` days after today (by the real clock)."""
    when = datetime.combine(datetime.now(TZ).date() + timedelta(days=day), time(hour, minute),
                            tzinfo=TZ)
    return when.isoformat()


def body(room_id: str = MEDIUM, start: str | None = None, end: str | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"room_id": room_id, "title": "周例会", "start": start or local(1, 10),
            "end": end or local(1, 11), **extra}


class People:
    """REST calls by username on one edge."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    async def token(self, username: str) -> str:
        if username not in self._tokens:
            login = await self.api.login(username)
            self._tokens[username] = login["token"]
            self.ids[username] = login["user"]["id"]
        return self._tokens[username]

    async def id(self, username: str) -> str:
        await self.token(username)
        return self.ids[username]

    async def call(self, who: str, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        return await self.api.call(method, path, payload, token=await self.token(who))

    async def book(self, who: str = "staff01", **fields: Any) -> dict[str, Any]:
        status, reply = await self.call(who, "POST", BOOKINGS, body(**fields))
        assert status == 201, reply
        return reply["booking"]  # type: ignore[no-any-return]

    async def get(self, booking_id: str, who: str = "staff01") -> dict[str, Any]:
        status, reply = await self.call(who, "GET", f"{BOOKINGS}/{booking_id}")
        assert status == 200, reply
        return reply["booking"]  # type: ignore[no-any-return]

    def on(self, api: Api) -> People:
        other = People(api)
        other._tokens, other.ids = self._tokens, self.ids
        return other


@pytest.fixture
def people(api: Api) -> People:
    return People(api)


def refused(status: int, reply: Any, code: str, field: str | None = None) -> str:
    assert status == {"bad_request": 400, "forbidden": 403, "not_found": 404,
                      "conflict": 409}[code], reply
    assert reply["error"]["code"] == code, reply
    message = str(reply["error"]["message"])
    if field is not None:
        assert message.startswith(f"{field}:") or f": {field}:" in message, message
    return message


# --- booking --------------------------------------------------------------------------------

async def test_a_free_room_is_booked_confirmed_and_shows_in_the_day_grid_and_my_list(
        people: People) -> None:
    booking = await people.book(attendees=[await people.id("staff02")], headcount=6)
    assert booking["status"] == "confirmed"
    assert booking["id"].startswith(f"{MEDIUM}~")
    assert (booking["room_id"], booking["title"], booking["headcount"]) == (MEDIUM, "周例会", 6)
    assert booking["booker"] == await people.id("staff01")
    assert await people.get(booking["id"], who="staff09") == booking

    day = local(1, 0)[:10]
    status, grid = await people.call("staff03", "GET",
                                     f"/api/v1/rooms/availability?date={day}&building=主楼")
    assert status == 200, grid
    busy = {row["room"]["id"]: row["busy"] for row in grid["rooms"]}
    assert set(busy) == {SMALL, MEDIUM, VIDEO, HALL}
    assert busy[MEDIUM] == [{"start": booking["start"], "end": booking["end"],
                             "booking_id": booking["id"], "status": "confirmed",
                             "title": "周例会"}]
    assert busy[SMALL] == busy[VIDEO] == busy[HALL] == []
    status, other_day = await people.call(
        "staff03", "GET", f"/api/v1/rooms/availability?date={local(2, 0)[:10]}")
    assert [r["busy"] for r in other_day["rooms"]] == [[], [], [], []]

    for who in ("staff01", "staff02"):
        status, mine = await people.call(who, "GET", BOOKINGS)
        assert [b["id"] for b in mine["bookings"]] == [booking["id"]]
    status, theirs = await people.call("staff03", "GET", BOOKINGS)
    assert theirs["bookings"] == []


async def test_a_week_grid_spans_monday_to_sunday(people: People) -> None:
    booking = await people.book(start=local(3, 9), end=local(3, 10))
    day = datetime.fromisoformat(local(3, 0)).date()
    status, grid = await people.call("staff01", "GET",
                                     f"/api/v1/rooms/availability?date={day}&span=week")
    assert status == 200, grid
    monday = day - timedelta(days=day.weekday())
    assert grid["from"] == datetime.combine(monday, time(), tzinfo=TZ).astimezone(UTC) \
        .isoformat(timespec="milliseconds").replace("+00:00", "Z")
    busy = {row["room"]["id"]: row["busy"] for row in grid["rooms"]}
    assert [b["booking_id"] for b in busy[MEDIUM]] == [booking["id"]]


async def test_a_clash_is_refused_naming_the_booking_it_clashes_with(people: People) -> None:
    first = await people.book()
    status, reply = await people.call("staff02", "POST", BOOKINGS,
                                      body(start=local(1, 10, 30), end=local(1, 11, 30)))
    refused(status, reply, "conflict")
    [clash] = reply["error"]["details"]["conflicts"]
    assert clash["occurrence"] == 0
    assert clash["booking"]["id"] == first["id"]
    assert clash["booking"]["booker"] == await people.id("staff01")
    # Back to back is no clash: a booking ends where the next begins.
    after = await people.book("staff02", start=local(1, 11), end=local(1, 12))
    before = await people.book("staff03", start=local(1, 9), end=local(1, 10))
    assert after["status"] == before["status"] == "confirmed"
    # Another room at the same time is free.
    assert (await people.book("staff02", room_id=SMALL))["status"] == "confirmed"


async def test_bad_bookings_are_refused_with_the_reason_and_make_nothing(
        people: People) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        (body(start=local(1, 7), end=local(1, 9)), "start", "open hours"),
        (body(start=local(1, 17), end=local(1, 19)), "end", "open hours"),
        (body(start=local(100, 10), end=local(100, 11)), "start", "booking window"),
        (body(start=local(1, 8), end=local(1, 17, 30)), "end", "maximum"),
        (body(start=local(-1, 10), end=local(-1, 11)), "start", "past"),
        (body(start=local(1, 11), end=local(1, 10)), "end", "not after"),
        (body(headcount=21), "attendees", "do not fit"),
        (body(start="tomorrow"), "start", "ISO-8601"),
        (body(start="2026-12-01T10:00:00"), "start", "zone"),
        (body(attendees=["nobody-at-all"]), "attendees", "unknown"),
        (body(title=""), "title", ""),
        (body(colour="red"), "colour", ""),
        (body(recurrence={"freq": "hourly", "count": 2}), "recurrence.freq", ""),
        (body(recurrence={"freq": "daily", "count": 120}), "recurrence.count", ""),
    ]
    for payload, field, words in cases:
        status, reply = await people.call("staff01", "POST", BOOKINGS, payload)
        message = refused(status, reply, "bad_request", field)
        assert words in message, (payload, message)
    status, reply = await people.call("staff01", "POST", BOOKINGS, body(room_id="room-none"))
    refused(status, reply, "not_found")
    # A series whose later occurrence breaks a rule names that occurrence.
    status, reply = await people.call("staff01", "POST", BOOKINGS, body(
        start=local(80, 10), end=local(80, 11), recurrence={"freq": "weekly", "count": 3}))
    message = refused(status, reply, "bad_request", "recurrence")
    assert "occurrence 3" in message and "booking window" in message
    status, mine = await people.call("staff01", "GET", BOOKINGS)
    assert mine["bookings"] == []


async def test_a_room_in_maintenance_takes_no_bookings(people: People) -> None:
    status, reply = await people.call("admin", "PATCH", f"/api/v1/rooms/{SMALL}",
                                      {"status": "maintenance", "status_reason": "换投影"})
    assert status == 200, reply
    status, reply = await people.call("staff01", "POST", BOOKINGS, body(room_id=SMALL))
    assert "换投影" in refused(status, reply, "bad_request", "room_id")


async def test_fifty_requests_racing_for_one_slot_on_two_nodes_make_exactly_one_booking(
        node: Node, start_node: NodeFactory, http: aiohttp.ClientSession,
        people: People) -> None:
    other = await start_node()
    edges = [people, people.on(Api(other.url, http))]
    users = [f"staff{n:02d}" for n in range(1, 11)]
    for user in users:
        await people.token(user)

    async def attempt(index: int) -> tuple[int, Any]:
        start = local(2, 14, 5 * (index % 6))  # every pair of requests overlaps
        return await edges[index % 2].call(users[index % 10], "POST", BOOKINGS,
                                           body(start=start, end=local(2, 15, 30)))

    replies = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert Counter(status for status, _ in replies) == {201: 1, 409: 49}
    [winner] = [reply["booking"] for status, reply in replies if status == 201]
    for status, reply in replies:
        if status == 409:
            assert [c["booking"]["id"] for c in reply["error"]["details"]["conflicts"]] == \
                [winner["id"]]
    schedule = await node.services.bookings.schedules([MEDIUM])
    assert [b.id for b in schedule[MEDIUM].holding] == [winner["id"]]
    status, listed = await people.call("staff01", "GET", f"{BOOKINGS}?room_id={MEDIUM}"
                                       f"&from={local(2, 0)}&to={local(3, 0)}".replace("+", "%2B"))
    assert [b["id"] for b in listed["bookings"]] == [winner["id"]]


# --- recurring series -----------------------------------------------------------------------

async def test_a_series_that_clashes_anywhere_is_refused_whole_listing_every_clash(
        people: People) -> None:
    weekly = {"freq": "weekly", "count": 5}
    second = await people.book("staff02", start=local(8, 10), end=local(8, 11))
    fourth = await people.book("staff03", start=local(22, 10, 30), end=local(22, 12))
    status, reply = await people.call("staff01", "POST", BOOKINGS, body(recurrence=weekly))
    refused(status, reply, "conflict")
    clashes = reply["error"]["details"]["conflicts"]
    assert [(c["occurrence"], c["booking"]["id"]) for c in clashes] == \
        [(1, second["id"]), (3, fourth["id"])]
    status, mine = await people.call("staff01", "GET", BOOKINGS)
    assert mine["bookings"] == []

    status, reply = await people.call("staff01", "POST", BOOKINGS,
                                      body(recurrence=weekly, partial=True))
    assert status == 201, reply
    booked = reply["bookings"]
    assert [b["start"] for b in booked] == [
        datetime.fromisoformat(local(d, 10)).astimezone(UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z") for d in (1, 15, 29)]
    assert len({b["series_id"] for b in booked}) == 1 and booked[0]["series_id"]
    assert [s["occurrence"] for s in reply["skipped"]] == [1, 3]


async def test_cancelling_with_series_cancels_this_and_the_later_occurrences(
        people: People) -> None:
    status, reply = await people.call("staff01", "POST", BOOKINGS,
                                      body(recurrence={"freq": "daily", "count": 4}))
    assert status == 201, reply
    series = reply["bookings"]
    status, reply = await people.call("staff01", "DELETE",
                                      f"{BOOKINGS}/{series[1]['id']}?series=true")
    assert status == 200, reply
    assert [b["id"] for b in reply["bookings"]] == [b["id"] for b in series[1:]]
    statuses = [(await people.get(b["id"]))["status"] for b in series]
    assert statuses == ["confirmed", "cancelled", "cancelled", "cancelled"]


# --- cancelling -----------------------------------------------------------------------------

async def test_only_the_booker_and_the_rooms_managers_cancel_and_the_booker_is_told(
        connect: Connect, people: People) -> None:
    booker = await connect("staff01")
    booking = await people.book()
    path = f"{BOOKINGS}/{booking['id']}"
    status, reply = await people.call("staff02", "DELETE", path)
    refused(status, reply, "forbidden")
    status, reply = await people.call("roommgr", "DELETE", f"{path}?reason=领导临时占用")
    assert status == 200, reply
    assert reply["booking"]["status"] == "cancelled"
    assert reply["booking"]["reason"] == "领导临时占用"
    told = await booker.wait_for("msg:new", titled("会议室预订已取消"))
    fields = {f["label"]: f["value"] for f in told["message"]["card"]["fields"]}
    assert fields["原因"] == "领导临时占用"
    # Cancelling again changes nothing; the slot is free for someone else.
    status, again = await people.call("staff01", "DELETE", path)
    assert (status, again["booking"]["status"]) == (200, "cancelled")
    assert (await people.book("staff02"))["status"] == "confirmed"
    status, reply = await people.call("staff01", "DELETE", f"{BOOKINGS}/{MEDIUM}~nosuch")
    refused(status, reply, "not_found")


async def test_retiring_a_room_cancels_its_bookings_and_tells_their_bookers(
        connect: Connect, people: People) -> None:
    booker = await connect("staff01")
    booking = await people.book(room_id=VIDEO)
    status, reply = await people.call("admin", "DELETE", f"/api/v1/rooms/{VIDEO}")
    assert status == 200, reply
    assert (await people.get(booking["id"]))["status"] == "cancelled"
    told = await booker.wait_for("msg:new", titled("会议室预订已取消"))
    fields = {f["label"]: f["value"] for f in told["message"]["card"]["fields"]}
    assert fields["原因"] == "the room was retired"


# --- approval -------------------------------------------------------------------------------

async def test_a_room_needing_approval_holds_a_pending_booking_until_its_managers_approve(
        connect: Connect, people: People) -> None:
    booker, manager = await connect("staff01"), await connect("roommgr")
    pending = await people.book(room_id=HALL, headcount=80)
    assert pending["status"] == "pending" and pending["card_id"]
    assert pending["decide_by"] == pending["start"] or pending["decide_by"] < pending["start"]
    arrived = await manager.wait_for("msg:new", card_message(pending["card_id"]))
    fields = {f["label"]: f["value"] for f in arrived["message"]["card"]["fields"]}
    assert (fields["会议室"], fields["主题"], fields["人数"]) == ("多功能厅", "周例会", "80")
    # The slot is held while the managers decide.
    status, reply = await people.call("staff02", "POST", BOOKINGS, body(room_id=HALL))
    refused(status, reply, "conflict")
    assert (await decide(manager, pending["card_id"]))["status"] == "approved"
    assert (await people.get(pending["id"]))["status"] == "confirmed"
    await booker.wait_for("msg:new", titled("已办结"))


async def test_a_rejected_booking_is_released_with_the_managers_reason(
        connect: Connect, people: People) -> None:
    manager = await connect("roommgr")
    status, reply = await people.call("staff01", "POST", BOOKINGS, body(
        room_id=HALL, recurrence={"freq": "daily", "count": 3}))
    assert status == 201, reply
    series = reply["bookings"]
    assert {b["card_id"] for b in series} == {series[0]["card_id"]}
    await manager.wait_for("msg:new", card_message(series[0]["card_id"]))
    await decide(manager, series[0]["card_id"], "reject", comment="当天有大会")
    for booking in series:
        after = await people.get(booking["id"])
        assert after["status"] == "released"
        assert after["reason"].endswith("当天有大会")
    assert (await people.book("staff02", room_id=HALL))["status"] == "pending"


async def test_a_manager_books_a_room_needing_approval_without_asking_anyone(
        people: People) -> None:
    assert (await people.book("roommgr", room_id=HALL))["status"] == "confirmed"


async def test_a_decision_on_a_booking_cancelled_meanwhile_leaves_it_cancelled(
        connect: Connect, people: People) -> None:
    manager = await connect("roommgr")
    pending = await people.book(room_id=HALL)
    status, _ = await people.call("staff01", "DELETE", f"{BOOKINGS}/{pending['id']}")
    assert status == 200
    await manager.wait_for("msg:new", card_message(pending["card_id"]))
    await decide(manager, pending["card_id"])
    assert (await people.get(pending["id"]))["status"] == "cancelled"


# --- the clock: check-in, release, deadlines, live status ----------------------------------

@pytest.fixture
async def clocked(start_node: NodeFactory, fake_clock: FakeClock,
                  http: aiohttp.ClientSession) -> tuple[Node, People, FakeClock]:
    """A node whose clock only moves when the test says (10:00 local on its first day)."""
    node = await start_node(clock=fake_clock, room_tick=1.0)
    return node, People(Api(node.url, http)), fake_clock


def at(clock: FakeClock, minutes: float) -> str:
    return (clock.now() + timedelta(minutes=minutes)).isoformat()


async def advance(clock: FakeClock, minutes: float) -> None:
    """Move the clock a minute at a time, letting each tick finish."""
    for _ in range(int(minutes)):
        await clock.advance(60)
        await asyncio.sleep(0.05)


async def socket_on(node: Node, people: People, username: str, clients: Any) -> Client:
    client: Client = clients(node.url)
    await client.connect(await people.token(username))
    return client


async def test_check_in_opens_ten_minutes_before_the_start_for_booker_and_attendees(
        clocked: tuple[Node, People, FakeClock]) -> None:
    _, people, clock = clocked
    booking = await people.book(start=at(clock, 30), end=at(clock, 90),
                                attendees=[await people.id("staff02")])
    path = f"{BOOKINGS}/{booking['id']}/checkin"
    status, reply = await people.call("staff02", "POST", path)
    assert "opens 10 minutes" in refused(status, reply, "forbidden")
    await advance(clock, 21)
    status, reply = await people.call("staff03", "POST", path)
    refused(status, reply, "forbidden")
    status, reply = await people.call("staff02", "POST", path)
    assert status == 200, reply
    checked = reply["booking"]["checked_in_at"]
    assert checked is not None
    status, again = await people.call("staff01", "POST", path)
    assert (status, again["booking"]["checked_in_at"]) == (200, checked)
    await advance(clock, 25)  # past start + 10 minutes: checked in, so kept
    assert (await people.get(booking["id"]))["status"] == "confirmed"


async def test_an_unattended_booking_is_released_the_booker_told_and_subscribers_pushed(
        clocked: tuple[Node, People, FakeClock], clients: Any) -> None:
    node, people, clock = clocked
    watcher = await socket_on(node, people, "staff09", clients)
    booker = await socket_on(node, people, "staff01", clients)
    snapshot = await watcher.ok("rooms:subscribe", {"building": "主楼"})
    assert {s["room_id"]: s["state"] for s in snapshot["rooms"]} == \
        dict.fromkeys((SMALL, MEDIUM, VIDEO, HALL), "free")
    booking = await people.book(start=at(clock, 5), end=at(clock, 65))
    booked = await watcher.wait_for("room:status", lambda s: s["room_id"] == MEDIUM)
    assert (booked["state"], booked["next_change_at"]) == ("free", booking["start"])

    await advance(clock, 6)
    busy = await watcher.wait_for("room:status", lambda s: s["state"] == "busy")
    assert (busy["room_id"], busy["booking"]["id"]) == (MEDIUM, booking["id"])
    assert busy["next_change_at"] == booking["end"]
    status, reply = await people.call("staff01", "POST", f"{BOOKINGS}/{booking['id']}/checkin")
    assert status == 200, reply  # checking in now would keep it; a late one is refused
    status, reply = await people.call("staff01", "DELETE", f"{BOOKINGS}/{booking['id']}")
    assert status == 200, reply

    second = await people.book(start=at(clock, 5), end=at(clock, 45))
    await advance(clock, 16)
    released = await people.get(second["id"])
    assert released["status"] == "released"
    assert "nobody checked in within 10 minutes" in released["reason"]
    told = await booker.wait_for("msg:new", titled("会议室已释放"))
    assert told["message"]["card"]["status"] == "released"
    free = await watcher.wait_for("room:status", lambda s: s["room_id"] == MEDIUM and
                                  s["state"] == "free" and s["next_change_at"] is None)
    assert free["booking"] is None
    status, reply = await people.call("staff01", "POST", f"{BOOKINGS}/{second['id']}/checkin")
    refused(status, reply, "conflict")


async def test_a_late_check_in_is_refused_even_before_the_release_is_carried_out(
        clocked: tuple[Node, People, FakeClock]) -> None:
    node, people, clock = clocked
    await node.services.live_rooms.stop()  # nothing releases it: only the rule refuses
    booking = await people.book(start=at(clock, 5), end=at(clock, 65))
    await clock.advance(16 * 60)
    status, reply = await people.call("staff01", "POST", f"{BOOKINGS}/{booking['id']}/checkin")
    assert "released" in refused(status, reply, "forbidden")


async def test_a_pending_booking_nobody_decides_is_released_at_its_deadline(
        clocked: tuple[Node, People, FakeClock], clients: Any) -> None:
    node, people, clock = clocked
    booker = await socket_on(node, people, "staff01", clients)
    pending = await people.book(room_id=HALL, start=at(clock, 90), end=at(clock, 150))
    assert pending["decide_by"] == pending["start"]
    await advance(clock, 91)
    after = await people.get(pending["id"])
    assert after["status"] == "released"
    assert after["reason"] == "the room's managers did not decide in time"
    await booker.wait_for("msg:new", titled("会议室已释放"))


async def test_a_manager_changing_a_room_pushes_its_status(
        connect: Connect, people: People) -> None:
    watcher = await connect("staff09")
    await watcher.ok("rooms:subscribe", {})
    status, _ = await people.call("roommgr", "PATCH", f"/api/v1/rooms/{SMALL}",
                                  {"status": "maintenance", "status_reason": "换地毯"})
    assert status == 200
    pushed = await watcher.wait_for("room:status", lambda s: s["room_id"] == SMALL)
    assert (pushed["state"], pushed["room_status"]) == ("free", "maintenance")
    await watcher.ok("rooms:unsubscribe", {})
    await people.call("roommgr", "PATCH", f"/api/v1/rooms/{SMALL}", {"status": "active"})
    await people.book(room_id=SMALL)
    await asyncio.sleep(0.3)
    assert len(watcher.received("room:status")) == 1


async def test_the_free_window_search_leaves_out_rooms_booked_then(people: People) -> None:
    await people.book(room_id=SMALL, start=local(1, 10), end=local(1, 11))
    window = f"free_from={local(1, 10, 30)}&free_to={local(1, 12)}".replace("+", "%2B")
    status, reply = await people.call("staff02", "GET", f"/api/v1/rooms?{window}")
    assert status == 200, reply
    assert [r["id"] for r in reply["rooms"]] == [MEDIUM, VIDEO, HALL]
    later = f"free_from={local(1, 11)}&free_to={local(1, 12)}".replace("+", "%2B")
    status, reply = await people.call("staff02", "GET", f"/api/v1/rooms?{later}")
    assert [r["id"] for r in reply["rooms"]] == [SMALL, MEDIUM, VIDEO, HALL]


# --- records and a killed writer ------------------------------------------------------------

async def test_records_a_killed_writer_left_behind_are_rewritten_from_the_schedule(
        clocked: tuple[Node, People, FakeClock]) -> None:
    node, people, clock = clocked
    booking = await people.book()
    store = node.services.bookings._store  # the schedule alone, as a writer killed after it
    schedule = await store.schedule(MEDIUM)
    moved = schedule.bookings[0].__class__.from_doc(
        {**schedule.bookings[0].to_doc(), "title": "改过的标题"})
    assert await store.commit(schedule, [moved], clock.now()) is not None
    assert (await store.record(booking["id"])).title == "周例会"  # type: ignore[union-attr]
    await node.services.bookings.resync()
    assert (await store.record(booking["id"])).title == "周例会"  # type: ignore[union-attr]
    await clock.advance(11)
    await node.services.bookings.resync()
    assert (await store.record(booking["id"])).title == "改过的标题"  # type: ignore[union-attr]
    assert await store.behind(clock.now(), 10) == []


async def test_a_process_killed_while_booking_series_leaves_no_partial_series(
        node: Node, people: People) -> None:
    config = node.config
    fields = {"data_dir": str(config.data_dir), "redis_url": config.redis_url,
              "mongo_url": config.mongo_url, "mongo_db": config.mongo_db,
              "redis_prefix": config.redis_prefix, "secret_key": config.secret_key,
              "field_key": config.field_key, "node_id": "series-writer",
              "password_hash_n": config.password_hash_n}
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for round_ in range(3):
        writer = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.room_series_writer", json.dumps(fields),
            await people.id("staff01"), stdout=asyncio.subprocess.PIPE, env=env)
        assert writer.stdout is not None
        for _ in range(2 + round_):  # a few series in, then killed in the middle of more
            assert await asyncio.wait_for(writer.stdout.readline(), 60)
        await asyncio.sleep(0.01 * round_)
        writer.send_signal(signal.SIGKILL)
        await writer.wait()
    schedules = await node.services.bookings.schedules([SMALL, MEDIUM, VIDEO])
    sizes = Counter(b.series_id for s in schedules.values() for b in s.bookings)
    assert sizes and set(sizes.values()) == {10}, sizes


async def test_a_node_started_on_an_empty_redis_rebuilds_the_grid_from_the_schedules(
        people: People, start_node: NodeFactory, http: aiohttp.ClientSession) -> None:
    booking = await people.book()
    fresh = await start_node(redis_prefix=f"{people.api.base.rsplit(':', 1)[1]}-fresh:")
    other = People(Api(fresh.url, http))
    day = local(1, 0)[:10]
    status, grid = await other.call("staff03", "GET",
                                    f"/api/v1/rooms/availability?date={day}&building=主楼")
    assert status == 200, grid
    busy = {row["room"]["id"]: [b["booking_id"] for b in row["busy"]] for row in grid["rooms"]}
    assert busy[MEDIUM] == [booking["id"]]
    assert await fresh.services.live_rooms._timers.claim(  # timed again: due at its start
        datetime.fromisoformat(booking["start"].replace("Z", "+00:00")).timestamp(), 30, 10) \
        == [MEDIUM]
