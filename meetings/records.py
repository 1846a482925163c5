"""Meeting records (PROTOCOL §6): who organised a meeting, who may join it, its status.

A meeting is one document; its status moves scheduled -> live -> ended by compare-and-set on
the status, so two nodes marking it live at once write once and an ended meeting stays ended.
What hosts decide during it (hosts, lock, who is muted or removed) changes by compare-and-set
on its `version` (meetings/controls.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from core.clock import Clock, iso
from core.directory.service import DirectoryService
from core.errors import BadRequest, Forbidden, Gone, NotFound

SCHEDULED, LIVE, ENDED = "scheduled", "live", "ended"
MAX_INVITEES = 500


class BookingLookup(Protocol):
    async def get(self, booking_id: str) -> Any: ...


@dataclass(frozen=True)
class Meeting:
    id: str
    title: str
    organiser: str
    hosts: tuple[str, ...]
    invitees: tuple[str, ...]
    open: bool
    unit_id: str | None
    booking_id: str | None
    status: str
    created_at: datetime
    locked: bool = False
    muted: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    version: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "organiser": self.organiser,
                "hosts": list(self.hosts), "invitees": list(self.invitees), "open": self.open,
                "unit_id": self.unit_id, "booking_id": self.booking_id, "status": self.status,
                "created_at": iso(self.created_at), "locked": self.locked,
                "muted": list(self.muted), "removed": list(self.removed)}

    def is_host(self, user_id: str) -> bool:
        return user_id in self.hosts

    @property
    def roll(self) -> tuple[str, ...]:
        """Invited by name, each once, organiser first: the organiser, hosts and invitees."""
        return tuple(dict.fromkeys((self.organiser, *self.hosts, *self.invitees)))

    @property
    def members(self) -> frozenset[str]:
        return frozenset(self.roll)

    def is_member(self, user_id: str) -> bool:
        return user_id in self.members

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Meeting:
        return cls(id=doc["_id"], title=doc["title"], organiser=doc["organiser"],
                   hosts=tuple(doc.get("hosts", ())), invitees=tuple(doc.get("invitees", ())),
                   open=bool(doc.get("open")), unit_id=doc.get("unit_id"),
                   booking_id=doc.get("booking_id"), status=doc["status"],
                   created_at=doc["created_at"], locked=bool(doc.get("locked")),
                   muted=tuple(doc.get("muted", ())), removed=tuple(doc.get("removed", ())),
                   version=int(doc.get("version", 0)))


class MeetingStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._meetings = db["meetings"]

    async def insert(self, doc: dict[str, Any]) -> None:
        await self._meetings.insert_one(doc)

    async def get(self, meeting_id: str) -> Meeting | None:
        doc = await self._meetings.find_one({"_id": meeting_id})
        return Meeting.from_doc(doc) if doc else None

    async def set_controls(self, meeting_id: str, version: int,
                           changes: dict[str, Any]) -> Meeting | None:
        """Apply `changes` if the meeting is still at `version`; None if someone else changed
        it first (the caller reads it again and decides again)."""
        doc = await self._meetings.find_one_and_update(
            {"_id": meeting_id, "version": version},
            {"$set": {**changes, "version": version + 1}},
            return_document=ReturnDocument.AFTER)
        return Meeting.from_doc(doc) if doc else None

    async def move(self, meeting_id: str, before: str, after: str) -> bool:
        done = await self._meetings.find_one_and_update(
            {"_id": meeting_id, "status": before}, {"$set": {"status": after}},
            return_document=ReturnDocument.AFTER)
        return done is not None


class MeetingService:
    def __init__(self, store: MeetingStore, directory: DirectoryService,
                 bookings: BookingLookup, clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._bookings = bookings
        self._clock = clock

    async def create(self, user_id: str, title: str, invitees: list[str],
                     booking_id: str | None = None, open_: bool = False) -> Meeting:
        invitees = [u for u in dict.fromkeys(invitees) if u != user_id]
        if len(invitees) > MAX_INVITEES:
            raise BadRequest(f"at most {MAX_INVITEES} invitees")
        found = await self._directory.get_users(invitees)
        unknown = [u for u in invitees if u not in found]
        if unknown:
            raise BadRequest("unknown invitees", {"user_ids": unknown})
        if booking_id is not None:
            booking = await self._bookings.get(booking_id)
            if booking.booker != user_id:
                raise Forbidden("only who booked the room can hold a meeting in it")
        routing = await self._directory.get_routing(user_id)
        doc = {"_id": f"mtg_{secrets.token_hex(8)}", "title": title, "organiser": user_id,
               "hosts": [user_id], "invitees": invitees, "open": open_,
               "unit_id": routing.unit.id if routing.unit else None,
               "booking_id": booking_id, "status": SCHEDULED,
               "created_at": self._clock.now(), "locked": False, "muted": [], "removed": [],
               "version": 0}
        await self._store.insert(doc)
        return Meeting.from_doc(doc)

    async def get(self, meeting_id: str) -> Meeting:
        meeting = await self._store.get(meeting_id)
        if meeting is None:
            raise NotFound(f"no meeting {meeting_id}")
        return meeting

    async def admit(self, meeting_id: str, user_id: str, already_in: bool = False) -> Meeting:
        """The meeting, if `user_id` may join it now (or, `already_in`, stay in it: a lock
        keeps newcomers out, not those inside); marks it live on the first join."""
        meeting = await self.get(meeting_id)
        if meeting.status == ENDED:
            raise Gone("the meeting has ended")
        if user_id in meeting.removed:
            raise Forbidden("a host removed you from this meeting")
        if not await self.may_join(meeting, user_id):
            raise Forbidden("not invited to this meeting")
        if meeting.locked and not already_in and not meeting.is_host(user_id):
            raise Forbidden("the meeting is locked")
        if meeting.status == SCHEDULED and await self._store.move(meeting_id, SCHEDULED, LIVE):
            meeting = await self.get(meeting_id)
        return meeting

    async def may_join(self, meeting: Meeting, user_id: str) -> bool:
        if meeting.is_member(user_id):
            return True
        if meeting.open and meeting.unit_id is not None:
            routing = await self._directory.get_routing(user_id)
            return routing.unit is not None and routing.unit.id == meeting.unit_id
        return False

    async def end(self, meeting_id: str, user_id: str) -> Meeting:
        meeting = await self.get(meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host can end the meeting")
        for before in (LIVE, SCHEDULED):
            if await self._store.move(meeting_id, before, ENDED):
                break
        return await self.get(meeting_id)
