"""Meeting records (PROTOCOL §6): who organised a meeting, who may join it, its status.

A meeting is one document; its status moves scheduled -> live -> ended by compare-and-set on
the status, so two nodes marking it live at once write once and an ended meeting stays ended.
What hosts decide during it (hosts, lock, who is muted or removed) changes by compare-and-set
on its `version` (meetings/controls.py)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from core.clock import Clock, iso
from core.directory.service import DirectoryService
from core.errors import BadRequest, Conflict, Forbidden, Gone, NotFound
from meetings.agenda import AgendaItem, revise_agenda

SCHEDULED, LIVE, ENDED, CANCELLED = "scheduled", "live", "ended", "cancelled"
MAX_INVITEES = 500
MAX_HOSTS = 20


class BookingLookup(Protocol):
    async def get(self, booking_id: str) -> Any: ...

    async def cancel(self, actor: str, booking_id: str, series: bool = False,
                     reason: str | None = None) -> Any: ...


class RoomLookup(Protocol):
    async def get(self, room_id: str) -> Any: ...


class Invitations(Protocol):
    """How the people of a meeting hear of it: its invitation, its cancellation, a change."""

    async def invite(self, meeting: Meeting) -> str | None: ...

    async def cancelled(self, meeting: Meeting) -> None: ...

    async def revised(self, meeting: Meeting) -> None: ...


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
    agenda: tuple[AgendaItem, ...] = ()
    agenda_version: int = 0  # what a host editing the agenda saw (edits of a stale one fail)
    confidential: bool = False
    # When it is held (ISO 8601, UTC), and where: the linked booking's, or as created.
    start: str | None = None
    end: str | None = None
    room_id: str | None = None
    room_name: str | None = None
    card_id: str | None = None  # the invitation card
    reason: str | None = None  # why it was cancelled

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "organiser": self.organiser,
                "hosts": list(self.hosts), "invitees": list(self.invitees), "open": self.open,
                "unit_id": self.unit_id, "booking_id": self.booking_id, "status": self.status,
                "created_at": iso(self.created_at), "locked": self.locked,
                "muted": list(self.muted), "removed": list(self.removed),
                "agenda": [item.to_wire() for item in self.agenda],
                "agenda_version": self.agenda_version, "confidential": self.confidential,
                "start": self.start, "end": self.end,
                "room_id": self.room_id, "room_name": self.room_name, "card_id": self.card_id,
                "reason": self.reason}

    @property
    def over(self) -> bool:
        return self.status in (ENDED, CANCELLED)

    def refuse_if_over(self) -> None:
        if self.status == ENDED:
            raise Gone("the meeting has ended")
        if self.status == CANCELLED:
            raise Gone("the meeting was cancelled" + (f": {self.reason}" if self.reason else ""))

    def agenda_item(self, item_id: str) -> AgendaItem:
        for item in self.agenda:
            if item.id == item_id:
                return item
        raise NotFound(f"no agenda item {item_id} in this meeting")

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
                   version=int(doc.get("version", 0)),
                   agenda=tuple(AgendaItem.from_doc(i) for i in doc.get("agenda", ())),
                   agenda_version=int(doc.get("agenda_version", 0)),
                   confidential=bool(doc.get("confidential")), start=doc.get("start"),
                   end=doc.get("end"), room_id=doc.get("room_id"),
                   room_name=doc.get("room_name"), card_id=doc.get("card_id"),
                   reason=doc.get("reason"))


class MeetingStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._meetings = db["meetings"]
        self._links = db["meeting_bookings"]

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

    async def move(self, meeting_id: str, before: str, after: str,
                   also: dict[str, Any] | None = None) -> bool:
        done = await self._meetings.find_one_and_update(
            {"_id": meeting_id, "status": before}, {"$set": {**(also or {}), "status": after}},
            return_document=ReturnDocument.AFTER)
        return done is not None

    async def set_card(self, meeting_id: str, card_id: str | None) -> Meeting | None:
        doc = await self._meetings.find_one_and_update(
            {"_id": meeting_id}, {"$set": {"card_id": card_id}},
            return_document=ReturnDocument.AFTER)
        return Meeting.from_doc(doc) if doc else None

    async def delete(self, meeting_id: str) -> None:
        await self._meetings.delete_one({"_id": meeting_id})

    async def claim_booking(self, booking_id: str, meeting_id: str) -> str:
        """Link the booking to the meeting unless it is linked already; the linked meeting.
        The booking's id is the link's `_id`, so of two claims one is stored."""
        try:
            await self._links.insert_one({"_id": booking_id, "meeting_id": meeting_id})
        except DuplicateKeyError:
            held = await self._links.find_one({"_id": booking_id})
            return str(held["meeting_id"]) if held else meeting_id
        return meeting_id

    async def meeting_of_booking(self, booking_id: str) -> str | None:
        link = await self._links.find_one({"_id": booking_id})
        return str(link["meeting_id"]) if link else None


@dataclass(frozen=True)
class MeetingRequest:
    """What an organiser asks for: who comes, what is discussed, where and when (a booked
    room's place and time, or a time of its own; neither: a meeting held now)."""

    title: str
    invitees: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # co-hosts besides the organiser
    booking_id: str | None = None
    open: bool = False
    confidential: bool = False
    agenda: tuple[dict[str, Any], ...] = ()
    start: datetime | None = None
    end: datetime | None = None


class MeetingService:
    def __init__(self, store: MeetingStore, directory: DirectoryService,
                 bookings: BookingLookup, rooms: RoomLookup, invitations: Invitations,
                 clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._bookings = bookings
        self._rooms = rooms
        self._invitations = invitations
        self._clock = clock

    async def create(self, user_id: str, request: MeetingRequest) -> Meeting:
        """A scheduled meeting, and its invitation card to everyone on the roll but the
        organiser. A booking is linked to one meeting: of two creates naming it at once, one
        gets `conflict`; a booking cancelled while its meeting is being created cancels the
        meeting (the create answers `conflict`)."""
        hosts = [u for u in dict.fromkeys(request.hosts) if u != user_id]
        if len(hosts) > MAX_HOSTS:
            raise BadRequest(f"hosts: at most {MAX_HOSTS} co-hosts")
        booking = await self._linkable_booking(user_id, request)
        attendees = tuple(booking.attendees) if booking is not None else ()
        invitees = [u for u in dict.fromkeys((*request.invitees, *attendees))
                    if u != user_id and u not in hosts]
        if len(invitees) > MAX_INVITEES:
            raise BadRequest(f"at most {MAX_INVITEES} invitees")
        found = await self._directory.get_users([*invitees, *hosts])
        unknown = [u for u in (*invitees, *hosts) if u not in found]
        if unknown:
            raise BadRequest("unknown invitees", {"user_ids": unknown})
        agenda = revise_agenda((), list(request.agenda))
        for index, item in enumerate(agenda):
            if item.presenter is not None and item.presenter not in found and \
                    item.presenter != user_id:
                raise BadRequest(f"agenda[{index}].presenter: not invited to this meeting")
        start, end = (booking.start, booking.end) if booking is not None else \
            (request.start, request.end)
        if (start is None) != (end is None) or (start and end and end <= start):
            raise BadRequest("start and end: both or neither, the end after the start")
        room = await self._rooms.get(booking.room_id) if booking is not None else None
        routing = await self._directory.get_routing(user_id)
        doc = {"_id": f"mtg_{secrets.token_hex(8)}", "title": request.title,
               "organiser": user_id, "hosts": [user_id, *hosts], "invitees": invitees,
               "open": request.open, "unit_id": routing.unit.id if routing.unit else None,
               "booking_id": request.booking_id, "status": SCHEDULED,
               "created_at": self._clock.now(), "locked": False, "muted": [], "removed": [],
               "version": 0, "agenda": [item.to_wire() for item in agenda],
               "agenda_version": 0,
               "confidential": request.confidential,
               "start": iso(start) if start else None, "end": iso(end) if end else None,
               "room_id": room.id if room else None, "room_name": room.name if room else None,
               "card_id": None, "reason": None}
        await self._store.insert(doc)
        meeting = Meeting.from_doc(doc)
        if booking is not None:
            await self._link(meeting, booking.id)
        card_id = await self._invitations.invite(meeting)
        meeting = await self._store.set_card(meeting.id, card_id) or meeting
        if meeting.status == CANCELLED:  # its booking ceased while the card was being sent
            await self._invitations.cancelled(meeting)
        return meeting

    async def _linkable_booking(self, user_id: str, request: MeetingRequest) -> Any:
        if request.booking_id is None:
            return None
        if request.start is not None or request.end is not None:
            raise BadRequest("start and end come from the booking; give one or the other")
        booking = await self._bookings.get(request.booking_id)
        if booking.booker != user_id:
            raise Forbidden("only who booked the room can hold a meeting in it")
        if not booking.holds:
            raise Conflict(f"booking {booking.id} is {booking.status}")
        if booking.end <= self._clock.now():
            raise Conflict(f"booking {booking.id} has ended")
        return booking

    async def _link(self, meeting: Meeting, booking_id: str) -> None:
        """Claim the booking for the meeting, then look at it again: had it ceased between
        the first look and the claim, nobody would have cancelled this meeting."""
        holder = await self._store.claim_booking(booking_id, meeting.id)
        if holder != meeting.id:
            await self._store.delete(meeting.id)
            raise Conflict(f"booking {booking_id} has a meeting already",
                           {"meeting_id": holder})
        booking = await self._bookings.get(booking_id)
        if not booking.holds:
            await self._cancel(meeting.id, booking.reason or f"the booking is {booking.status}")
            raise Conflict(f"booking {booking_id} is {booking.status}")

    async def booking_ceased(self, bookings: Sequence[Any]) -> None:
        """The bookings no longer hold their rooms: their scheduled meetings are cancelled and
        everyone invited told. A live meeting goes on (its people are in it, online) and an
        ended one stays ended."""
        for booking in bookings:
            meeting_id = await self._store.meeting_of_booking(booking.id)
            if meeting_id is not None:
                await self._cancel(meeting_id, booking.reason or "the room booking ended")

    async def cancel(self, user_id: str, meeting_id: str, reason: str | None) -> Meeting:
        """A host calls off a scheduled meeting; its room booking is cancelled with it.
        Cancelling twice changes nothing; a live or ended meeting is ended, not cancelled."""
        meeting = await self.get(meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host can cancel the meeting")
        if meeting.status in (LIVE, ENDED):
            raise Conflict(f"the meeting is {meeting.status}; a host ends it instead")
        if not await self._cancel(meeting_id, reason or f"cancelled by {user_id}"):
            return await self.get(meeting_id)
        meeting = await self.get(meeting_id)
        if meeting.booking_id is not None:
            await self._bookings.cancel(meeting.organiser, meeting.booking_id,
                                        reason=f"the meeting was cancelled: {meeting.reason}")
        return meeting

    async def _cancel(self, meeting_id: str, reason: str) -> bool:
        """Whoever moves it to cancelled tells the invitees, so they are told once."""
        if not await self._store.move(meeting_id, SCHEDULED, CANCELLED, {"reason": reason}):
            return False
        meeting = await self.get(meeting_id)
        if meeting.card_id is not None:
            await self._invitations.cancelled(meeting)
        return True

    async def change_agenda(self, user_id: str, meeting_id: str, agenda_version: int,
                            agenda: list[dict[str, Any]]) -> Meeting:
        """Hosts change the agenda until the meeting ends; an item keeps its id (and its
        materials) across changes. The new agenda replaces the one at `agenda_version`, the
        one the host saw: of two hosts editing the same one at once, the second gets
        `conflict` with the agenda as it is now, never silently undoing the first."""
        for _ in range(5):
            meeting = await self.get(meeting_id)
            meeting.refuse_if_over()
            if not meeting.is_host(user_id):
                raise Forbidden("only a host changes the agenda")
            if meeting.agenda_version != agenda_version:
                raise Conflict(f"the agenda changed (it is at version {meeting.agenda_version})",
                               {"meeting": meeting.to_wire()})
            items = revise_agenda(meeting.agenda, agenda)
            for index, item in enumerate(items):
                if item.presenter is not None and not meeting.is_member(item.presenter):
                    raise BadRequest(f"agenda[{index}].presenter: not invited to this meeting")
            changed = await self._store.set_controls(
                meeting_id, meeting.version, {"agenda": [i.to_wire() for i in items],
                                              "agenda_version": agenda_version + 1})
            if changed is not None:
                if changed.card_id is not None:
                    await self._invitations.revised(changed)
                return changed
        raise Conflict("the meeting kept changing under this request; try again")

    async def get(self, meeting_id: str) -> Meeting:
        meeting = await self._store.get(meeting_id)
        if meeting is None:
            raise NotFound(f"no meeting {meeting_id}")
        return meeting

    async def look(self, meeting_id: str, user_id: str) -> Meeting:
        """The meeting as whoever may join it sees it (whatever its status)."""
        meeting = await self.get(meeting_id)
        if not await self.may_join(meeting, user_id):
            raise Forbidden("not invited to this meeting")
        return meeting

    async def admit(self, meeting_id: str, user_id: str, already_in: bool = False) -> Meeting:
        """The meeting, if `user_id` may join it now (or, `already_in`, stay in it: a lock
        keeps newcomers out, not those inside); marks it live on the first join."""
        meeting = await self.get(meeting_id)
        meeting.refuse_if_over()
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
