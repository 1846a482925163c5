"""Sign-in (签到) of a meeting and its attendance roll-up (PROTOCOL §6, paperless meeting).

Each member (organiser, hosts, invitees) signs in once. A sign-in is one document whose `_id`
is the meeting and the member, inserted without reading first: of two sign-ins racing (two
devices, two nodes) the database's unique `_id` stores one and the other is `conflict`.

The roll-up reads the meeting's sign-ins by an equality on `meeting_id` and, for each member
who has not signed in, asks the leave records whether an approved leave covers the meeting's
day: the local date (`ORG_TZ`) of its booked room's start, or without a booking of the clock's
now. A member who signed in is `signed_in` even with a leave."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import Any, Protocol

from pymongo import InsertOne
from pymongo.errors import DuplicateKeyError

from core.batching import BulkWriter
from core.clock import Clock, iso
from core.errors import BadRequest, Conflict, Forbidden
from core.mongo import Database, Document
from meetings.records import Meeting

# Leave lookups of one roll-up in flight at once: a large meeting must not take every
# connection of the pool from the rest of the node.
LEAVE_LOOKUPS_AT_ONCE = 16


class Via(StrEnum):
    MEETING = "meeting"  # from the meeting page or app
    ROOM = "room"  # on arrival in the meeting's booked room


class Status(StrEnum):
    SIGNED_IN = "signed_in"
    ON_LEAVE = "on_leave"
    ABSENT = "absent"


class Meetings(Protocol):
    async def get(self, meeting_id: str) -> Meeting: ...


class BookedTime(Protocol):
    @property
    def start(self) -> datetime: ...


class Bookings(Protocol):
    async def get(self, booking_id: str) -> BookedTime: ...


class Leaves(Protocol):
    async def on_leave(self, user_id: str, day: date) -> bool: ...


@dataclass(frozen=True)
class Checkin:
    meeting_id: str
    user_id: str
    at: datetime
    via: Via

    def to_wire(self) -> dict[str, Any]:
        return {"meeting_id": self.meeting_id, "user_id": self.user_id, "at": iso(self.at),
                "via": self.via.value}

    def to_doc(self) -> Document:
        return {"_id": checkin_id(self.meeting_id, self.user_id), "meeting_id": self.meeting_id,
                "user_id": self.user_id, "at": self.at, "via": self.via.value}

    @classmethod
    def from_doc(cls, doc: Document) -> Checkin:
        return cls(doc["meeting_id"], doc["user_id"], doc["at"], Via(doc["via"]))


def checkin_id(meeting_id: str, user_id: str) -> str:
    return f"{meeting_id}|{user_id}"


@dataclass(frozen=True)
class MemberAttendance:
    user_id: str
    status: Status
    checkin: Checkin | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "status": self.status.value,
                "at": iso(self.checkin.at) if self.checkin else None,
                "via": self.checkin.via.value if self.checkin else None}


@dataclass(frozen=True)
class Attendance:
    meeting_id: str
    day: date
    members: tuple[MemberAttendance, ...]

    def to_wire(self) -> dict[str, Any]:
        totals = {"members": len(self.members)}
        for status in Status:
            totals[status.value] = sum(1 for m in self.members if m.status == status)
        return {"meeting_id": self.meeting_id, "day": self.day.isoformat(),
                "members": [m.to_wire() for m in self.members], "totals": totals}


def roll_up(meeting_id: str, day: date, members: Sequence[str],
            checkins: dict[str, Checkin], away: set[str]) -> Attendance:
    """Each member's status: a sign-in first, then an approved leave, else absent."""
    def one(user_id: str) -> MemberAttendance:
        if user_id in checkins:
            return MemberAttendance(user_id, Status.SIGNED_IN, checkins[user_id])
        return MemberAttendance(user_id, Status.ON_LEAVE if user_id in away else Status.ABSENT)

    return Attendance(meeting_id, day, tuple(one(u) for u in members))


@dataclass(frozen=True)
class SignedIn:
    """A stored sign-in and what the hosts are told of it. `signed_in` counts the meeting's
    sign-ins stored when this one was (at least this one and every earlier one)."""

    checkin: Checkin
    signed_in: int
    members: int
    hosts: frozenset[str]

    def push_to_wire(self) -> dict[str, Any]:
        change = MemberAttendance(self.checkin.user_id, Status.SIGNED_IN, self.checkin)
        return {"meeting_id": self.checkin.meeting_id, "change": change.to_wire(),
                "totals": {"members": self.members, "signed_in": self.signed_in}}


class CheckinStore:
    def __init__(self, db: Database) -> None:
        self._checkins = db["meeting_checkins"]
        # Members arriving together: their inserts leave as one write (core/batching.py),
        # each still failing alone on its own duplicate `_id`.
        self._writer = BulkWriter(self._checkins)

    async def ensure_indexes(self) -> None:
        await self._checkins.create_index("meeting_id")

    async def add(self, checkin: Checkin) -> None:
        try:
            await self._writer.write(InsertOne(checkin.to_doc()))
        except DuplicateKeyError as exc:
            raise Conflict(f"{checkin.user_id} has signed in to this meeting already") from exc

    async def of_meeting(self, meeting_id: str) -> list[Checkin]:
        return [Checkin.from_doc(doc)
                async for doc in self._checkins.find({"meeting_id": meeting_id})]

    async def count(self, meeting_id: str) -> int:
        return await self._checkins.count_documents({"meeting_id": meeting_id})


class CheckinService:
    def __init__(self, store: CheckinStore, meetings: Meetings, bookings: Bookings,
                 leaves: Leaves, clock: Clock, tz: tzinfo) -> None:
        self._store = store
        self._meetings = meetings
        self._bookings = bookings
        self._leaves = leaves
        self._clock = clock
        self._tz = tz

    async def do_checkin(self, meeting_id: str, user_id: str, via: Via) -> SignedIn:
        """Refusals in order: `not_found`, `forbidden` (not on the roll, or removed by a
        host), `gone` (ended), `bad_request` (`room` without a booked room), `conflict`
        (signed in already)."""
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_member(user_id):
            raise Forbidden("only the organiser, hosts and invitees sign in to this meeting")
        if user_id in meeting.removed:
            raise Forbidden("a host removed you from this meeting")
        meeting.refuse_if_over()
        if via == Via.ROOM and meeting.booking_id is None:
            raise BadRequest("via: this meeting has no booked room to sign in from")
        checkin = Checkin(meeting.id, user_id, self._clock.now(), via)
        await self._store.add(checkin)
        # Hosts see the roll-up, so they are who hears of each sign-in.
        return SignedIn(checkin, await self._store.count(meeting.id), len(meeting.roll),
                        frozenset(meeting.hosts))

    async def get_attendance(self, meeting_id: str, user_id: str) -> Attendance:
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host sees the meeting's attendance")
        members = meeting.roll
        checkins = {c.user_id: c for c in await self._store.of_meeting(meeting.id)}
        day = await self._meeting_day(meeting)
        away = await self._away([u for u in members if u not in checkins], day)
        return roll_up(meeting.id, day, members, checkins, away)

    async def _meeting_day(self, meeting: Meeting) -> date:
        """The local date whose leave counts: a booked room's (a booking lies within one
        local day), else today's."""
        moment = self._clock.now()
        if meeting.booking_id is not None:
            moment = (await self._bookings.get(meeting.booking_id)).start
        return moment.astimezone(self._tz).date()

    async def _away(self, user_ids: list[str], day: date) -> set[str]:
        gate = asyncio.Semaphore(LEAVE_LOOKUPS_AT_ONCE)

        async def on_leave(user_id: str) -> bool:
            async with gate:
                return await self._leaves.on_leave(user_id, day)

        answers = await asyncio.gather(*(on_leave(u) for u in user_ids))
        return {u for u, away in zip(user_ids, answers, strict=True) if away}
