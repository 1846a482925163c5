"""Bookings of meeting rooms (PROTOCOL §5, Bookings): book, cancel, check in, decide, and what
the clock does to them (release unattended bookings, drop undecided ones).

Every change goes through `_change`: read the room's schedule, decide on it, compare-and-set
it (rooms/booking_store.py says why that keeps bookings from overlapping however many writers
race), and on losing read and decide again. Whoever wins a change does its effects (records,
listeners, cards to people), so with many nodes each effect happens once.

Rooms that require approval take bookings as `pending` (holding the slot) and ask their
managers with one `room_booking` card per request (a whole series on one card); the managers'
decision confirms or releases them. Their own bookings of such a room need nobody's approval."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Protocol

from core.clock import Clock, iso
from core.directory.service import DirectoryService
from core.errors import BadRequest, Conflict, Forbidden, NotFound
from core.tasks import Periodic
from rooms.booking_store import BookingStore, Schedule, room_of, with_changes
from rooms.busy_index import BusyIndex
from rooms.catalogue import RoomCatalogue
from rooms.forms import BookingForm, a_moment, parse_form, refusal
from rooms.models import HOLDING, Booking, BookingStatus, Room, RoomStatus
from rooms.rules import (
    Interval,
    check_booking,
    check_in_refusal,
    conflicts,
    local_day_bounds,
    local_week_bounds,
    occurrences,
    parse_recurrence,
    release_due,
)

log = logging.getLogger(__name__)

# A pending booking is decided within this, or by its start if sooner; then it is released.
APPROVAL_HOURS = 24
# Ended bookings leave the schedule (not their records) this long after their end.
PURGE_AFTER = timedelta(days=1)
# A change is re-decided this often against other writers before `conflict`.
MAX_ATTEMPTS = 50
# Records of a schedule that changed this long ago and is still `behind` are rewritten.
RESYNC_AFTER = timedelta(seconds=10)
_RESYNC_BATCH = 100
MAX_LISTED = 500

BookingsChanged = Callable[[str], Awaitable[None]]
BookingsCeased = Callable[[list[Booking]], Awaitable[None]]
ScheduleLoaded = Callable[[Schedule], Awaitable[object]]


class Approvals(Protocol):
    """Asks a room's managers to decide on pending bookings; answers the card's id."""

    async def request(self, booker: str, room: Room, bookings: Sequence[Booking]) -> str: ...


class Notices(Protocol):
    """Tells someone what happened to their booking, by a card."""

    async def tell(self, user_id: str, title: str, fields: list[tuple[str, str]],
                   status: str) -> None: ...


@dataclass(frozen=True)
class Booked:
    """What a booking request made, and the occurrences it skipped (with `partial`)."""

    bookings: list[Booking]
    skipped: list[dict[str, Any]]


def new_booking_id(room_id: str) -> str:
    return f"{room_id}~{secrets.token_hex(8)}"


def _clash(index: int, wanted: Interval, held: Booking) -> dict[str, Any]:
    return {"occurrence": index, "start": iso(wanted[0]), "end": iso(wanted[1]),
            "booking": {"id": held.id, "title": held.title, "booker": held.booker,
                        "start": iso(held.start), "end": iso(held.end),
                        "status": held.status.value}}


class BookingService:
    def __init__(self, store: BookingStore, index: BusyIndex, catalogue: RoomCatalogue,
                 directory: DirectoryService, clock: Clock, tz: tzinfo,
                 approvals: Approvals, notices: Notices, resync_every: float = 30.0) -> None:
        self._store = store
        self._index = index
        self._catalogue = catalogue
        self._directory = directory
        self._clock = clock
        self._tz = tz
        self._approvals = approvals
        self._notices = notices
        self._listeners: list[BookingsChanged] = []
        self._ceased: list[BookingsCeased] = []
        self._loaders: list[ScheduleLoaded] = []
        self._resyncer = Periodic(clock, resync_every, self.resync, "booking records resync")

    def on_change(self, callback: BookingsChanged) -> None:
        """Call `callback(room_id)` after every change of a room's bookings that lands."""
        self._listeners.append(callback)

    def on_ceased(self, callback: BookingsCeased) -> None:
        """Call `callback(bookings)` with the bookings a change that lands cancelled or
        released, once however many nodes raced to change them (the winner calls)."""
        self._ceased.append(callback)

    def on_load(self, callback: ScheduleLoaded) -> None:
        """Call `callback(schedule)` for every room's schedule as `start` reads them, so that
        what else derives from the schedules is rebuilt in the same pass."""
        self._loaders.append(callback)

    async def start(self) -> None:
        """Fill the busy index from the schedules (Redis may have lost it; entries of the same
        or a newer version stay) and tell the loaders, then keep the records in step."""
        for room_id in await self._store.room_ids():
            schedule = await self._store.schedule(room_id)
            await self._index.put_schedule(room_id, schedule.version, schedule.bookings)
            for loaded in self._loaders:
                try:
                    await loaded(schedule)
                except Exception:
                    log.exception("loading the schedule of room %s failed", room_id)
        self._resyncer.start()

    async def stop(self) -> None:
        await self._resyncer.stop()

    # booking -----------------------------------------------------------------------------

    async def book(self, booker: str, payload: Any) -> Booked:
        form = parse_form(BookingForm, payload)
        start, end = a_moment(form.start, "start"), a_moment(form.end, "end")
        rule = parse_recurrence(form.recurrence)
        room = await self._catalogue.get(form.room_id)
        await self._check_attendees(form.attendees)
        headcount = max(form.headcount or 0, len({booker, *form.attendees}))
        now = self._clock.now()
        wanted = occurrences(start, end, rule, self._tz)
        for index, (s, e) in enumerate(wanted):
            try:
                check_booking(room, s, e, now, self._tz, headcount)
            except BadRequest as exc:
                if index == 0:
                    raise
                day = s.astimezone(self._tz).date()
                raise BadRequest(f"recurrence: occurrence {index + 1} on {day}: "
                                 f"{exc.message}") from exc
        pending = room.requires_approval and not await self._catalogue.may_manage(booker, room)
        if pending and not room.managers:
            raise refusal("room_id", "the room requires approval but names no managers to "
                                     "give it; ask an administrator")
        series_id = f"series_{secrets.token_hex(8)}" if rule is not None else None
        skipped: list[dict[str, Any]] = []

        def decide(schedule: Schedule) -> list[Booking]:
            clashes = conflicts(schedule.holding, wanted)
            taken = {index for index, _ in clashes}
            free = [index for index in range(len(wanted)) if index not in taken]
            details = [_clash(index, wanted[index], held) for index, held in clashes]
            if clashes and (not form.partial or not free):
                shown = f"{len(taken)} of {len(wanted)} occurrences clash" if rule else \
                    "the room is booked then"
                raise Conflict(f"room {room.id}: {shown}", {"conflicts": details})
            skipped[:] = details
            decide_by = min(now + timedelta(hours=APPROVAL_HOURS), wanted[free[0]][0]) \
                if pending else None
            return [Booking(id=new_booking_id(room.id), room_id=room.id, title=form.title,
                            booker=booker, start=wanted[i][0], end=wanted[i][1],
                            status=BookingStatus.PENDING if pending else BookingStatus.CONFIRMED,
                            attendees=tuple(form.attendees), headcount=headcount,
                            series_id=series_id, created_at=now, decide_by=decide_by)
                    for i in free]

        booked = await self._change(room.id, decide)
        if pending:
            booked = await self._ask_managers(booker, room, booked)
        return Booked(booked, skipped)

    async def _check_attendees(self, attendees: list[str]) -> None:
        if not attendees:
            return
        found = await self._directory.get_users(attendees)
        unknown = [a for a in attendees if a not in found]
        if unknown:
            raise refusal("attendees", f"unknown users: {', '.join(unknown)}")

    async def _ask_managers(self, booker: str, room: Room,
                            booked: list[Booking]) -> list[Booking]:
        """One card for the request; its id on the bookings. Without a card nobody could
        decide, so a request that cannot make one gives its slots back."""
        ids = {b.id for b in booked}
        try:
            card_id = await self._approvals.request(booker, room, booked)
        except BaseException:
            await self._change(room.id, lambda s: [
                replace(b, status=BookingStatus.RELEASED, reason="the approval card failed")
                for b in s.bookings if b.id in ids and b.status is BookingStatus.PENDING])
            raise
        await self._change(room.id, lambda s: [replace(b, card_id=card_id)
                                               for b in s.bookings if b.id in ids])
        return [replace(b, card_id=card_id) for b in booked]

    # changing one ------------------------------------------------------------------------

    async def cancel(self, actor: str, booking_id: str, series: bool = False,
                     reason: str | None = None) -> list[Booking]:
        """Cancel the booking (with `series`, it and the later ones of its series), by its
        booker or a manager of the room; a cancelled booking stays cancelled (no error)."""
        room, current = await self._locate(booking_id)
        manager = await self._catalogue.may_manage(actor, room)
        if actor != current.booker and not manager:
            raise Forbidden("only the booker and the room's managers cancel a booking")
        now = self._clock.now()
        why = reason or ("cancelled by the booker" if actor == current.booker
                         else f"cancelled by {actor}")

        def decide(schedule: Schedule) -> list[Booking]:
            booking = schedule.find(booking_id) or current
            if booking.status is BookingStatus.CANCELLED:
                return []
            if booking.status not in HOLDING:
                raise Conflict(f"booking {booking_id} is {booking.status}",
                               {"booking": booking.to_wire()})
            if booking.end <= now:
                raise Forbidden(f"booking {booking_id} has ended")
            targets = [b for b in schedule.holding
                       if b.id == booking_id or (series and booking.series_id is not None
                       and b.series_id == booking.series_id and b.start > booking.start)]
            return [replace(b, status=BookingStatus.CANCELLED, reason=why) for b in targets]

        changed = await self._change(room.id, decide)
        if changed and actor != current.booker:
            await self._tell(current.booker, "会议室预订已取消", room, changed[0], why)
        return changed or [(await self._locate(booking_id))[1]]

    async def check_in(self, actor: str, booking_id: str) -> Booking:
        """Check in to a confirmed booking, by its booker or an attendee, from 10 minutes
        before its start until it is released or ends; checking in twice changes nothing."""
        room, current = await self._locate(booking_id)
        if actor != current.booker and actor not in current.attendees:
            raise Forbidden("only the booker and the attendees check in")
        now = self._clock.now()

        def decide(schedule: Schedule) -> list[Booking]:
            booking = schedule.find(booking_id) or current
            if booking.checked_in_at is not None:
                return []
            problem = check_in_refusal(booking, now, room)
            if problem is None:
                return [replace(booking, checked_in_at=now)]
            if booking.status is not BookingStatus.CONFIRMED:
                raise Conflict(f"booking {booking_id}: {problem}",
                               {"booking": booking.to_wire()})
            raise Forbidden(f"booking {booking_id}: {problem}")

        changed = await self._change(room.id, decide)
        return changed[0] if changed else (await self._locate(booking_id))[1]

    async def decided(self, booking_ids: Sequence[str], approved: bool, actor: str,
                      comment: str | None) -> list[Booking]:
        """The managers' decision on pending bookings (from their card). Bookings no longer
        pending (cancelled, or released for want of a decision) stay as they are."""
        changed: list[Booking] = []
        by_room: dict[str, set[str]] = {}
        for booking_id in booking_ids:
            by_room.setdefault(room_of(booking_id), set()).add(booking_id)
        why = None if approved else \
            f"rejected by {actor}" + (f": {comment}" if comment else "")
        for room_id, ids in sorted(by_room.items()):
            changed += await self._change(room_id, lambda s, ids=ids: [  # type: ignore[misc]
                replace(b, status=BookingStatus.CONFIRMED) if approved
                else replace(b, status=BookingStatus.RELEASED, reason=why)
                for b in s.bookings if b.id in ids and b.status is BookingStatus.PENDING])
        return changed

    async def settle(self, room_id: str) -> list[Booking]:
        """What the clock does to the room's bookings now: an unattended confirmed booking
        past its release time, and a pending one past its time to be decided, are released
        and their bookers told."""
        room = await self._catalogue.get(room_id)
        now = self._clock.now()

        def decide(schedule: Schedule) -> list[Booking]:
            out = []
            for booking in schedule.holding:
                if booking.end <= now:
                    continue
                if release_due(booking, room, now):
                    out.append(replace(booking, status=BookingStatus.RELEASED,
                                       reason=f"nobody checked in within "
                                              f"{room.release_minutes} minutes of the start"))
                elif booking.status is BookingStatus.PENDING and booking.decide_by and \
                        now >= booking.decide_by:
                    out.append(replace(booking, status=BookingStatus.RELEASED,
                                       reason="the room's managers did not decide in time"))
            return out

        changed = await self._change(room_id, decide)
        for booking in changed:
            await self._tell(booking.booker, "会议室已释放", room, booking, booking.reason or "")
        return changed

    async def room_changed(self, room: Room) -> None:
        """A retired room's bookings that have not ended are cancelled and their bookers told;
        any change of a room is a change of its bookings' room for listeners."""
        if room.status is RoomStatus.RETIRED:
            now = self._clock.now()
            why = "the room was retired"
            changed = await self._change(room.id, lambda s: [
                replace(b, status=BookingStatus.CANCELLED, reason=why)
                for b in s.holding if b.end > now])
            for booking in changed:
                await self._tell(booking.booker, "会议室预订已取消", room, booking, why)
            if changed:
                return
        await self._notify(room.id)

    # reading -----------------------------------------------------------------------------

    async def get(self, booking_id: str) -> Booking:
        return (await self._locate(booking_id))[1]

    async def of_room(self, room_id: str, start: datetime, end: datetime) -> list[Booking]:
        await self._catalogue.get(room_id)
        return await self._store.of_room(room_id, start, end)

    async def of_person(self, user_id: str, limit: int = MAX_LISTED) -> list[Booking]:
        """Bookings someone made or attends that have not ended, soonest first."""
        return await self._store.of_person(user_id, self._clock.now(), limit)

    async def busy_rooms(self, room_ids: list[str], start: datetime, end: datetime) -> set[str]:
        return await self._index.busy(room_ids, start, end)

    async def grid(self, day: date, week: bool, rooms: list[Room]) -> dict[str, Any]:
        """Busy intervals of `rooms` on a local day (or its Monday-to-Sunday week); a booking
        lies within one local day, so nothing needs clipping."""
        start, end = (local_week_bounds if week else local_day_bounds)(day, self._tz)
        first = day - timedelta(days=day.weekday()) if week else day
        days = [first + timedelta(days=n) for n in range(7 if week else 1)]
        busy = await self._index.on_days([r.id for r in rooms], days)
        return {"from": iso(start), "to": iso(end),
                "rooms": [{"room": r.to_wire(), "busy": busy[r.id]} for r in rooms]}

    async def schedule(self, room_id: str) -> Schedule:
        return await self._store.schedule(room_id)

    async def schedules(self, room_ids: Sequence[str]) -> dict[str, Schedule]:
        return await self._store.schedules(room_ids)

    async def resync(self) -> None:
        """Rewrite the records of schedules a writer left `behind` (killed between its
        schedule and its records, or overtaken by another writer)."""
        changed_before = self._clock.now() - RESYNC_AFTER
        for room_id in await self._store.behind(changed_before, _RESYNC_BATCH):
            schedule = await self._store.schedule(room_id)
            await self._store.write_records(schedule.bookings, schedule.version)
            await self._index.put_schedule(room_id, schedule.version, schedule.bookings)
            await self._store.mark_all_synced(schedule)

    # inside ------------------------------------------------------------------------------

    async def _locate(self, booking_id: str) -> tuple[Room, Booking]:
        """The booking's room and the booking as its schedule has it (or, once it left the
        schedule, its record)."""
        room_id = room_of(booking_id)
        room = await self._catalogue.get(room_id) if room_id else None
        if room is not None:
            booking = (await self._store.schedule(room_id)).find(booking_id) or \
                await self._store.record(booking_id)
            if booking is not None:
                return room, booking
        raise NotFound(f"no booking {booking_id}")

    async def _change(self, room_id: str,
                      decide: Callable[[Schedule], list[Booking]]) -> list[Booking]:
        """Apply `decide`'s changed bookings to the room's schedule by compare-and-set,
        deciding again on the schedule as it is after losing to another writer."""
        for _ in range(MAX_ATTEMPTS):
            schedule = await self._store.schedule(room_id)
            changed = decide(schedule)
            if not changed:
                return []
            now = self._clock.now()
            stored = await self._store.commit(schedule, with_changes(
                self._kept(schedule, now), changed), now)
            if stored is None:
                continue
            await self._store.write_records(changed, stored.version)
            await self._index.put(room_id, stored.version, stored.bookings,
                                  {self._index.day_of(b.start) for b in changed})
            await self._store.mark_synced(room_id, stored.version)
            await self._notify(room_id)
            await self._tell_ceased([b for b in changed if not b.holds])
            return changed
        raise Conflict(f"room {room_id} is being booked too busily; retry")

    @staticmethod
    def _kept(schedule: Schedule, now: datetime) -> Iterable[Booking]:
        """The schedule without bookings ended long ago, once every record is written (until
        then the schedule is all there is of them)."""
        if schedule.synced != schedule.version:
            return schedule.bookings
        return [b for b in schedule.bookings if b.end > now - PURGE_AFTER]

    async def _notify(self, room_id: str) -> None:
        for listener in self._listeners:
            try:
                await listener(room_id)
            except Exception:
                log.exception("bookings listener failed for room %s", room_id)

    async def _tell_ceased(self, bookings: list[Booking]) -> None:
        if not bookings:
            return
        for listener in self._ceased:
            try:
                await listener(bookings)
            except Exception:
                log.exception("listener of ceased bookings failed for %s", bookings[0].id)

    async def _tell(self, user_id: str, title: str, room: Room, booking: Booking,
                    why: str) -> None:
        local = booking.start.astimezone(self._tz)
        fields = [("会议室", room.name), ("主题", booking.title),
                  ("时间", f"{local:%Y-%m-%d %H:%M}-{booking.end.astimezone(self._tz):%H:%M}"),
                  ("原因", why)]
        try:
            await self._notices.tell(user_id, f"{title}：{booking.title}", fields,
                                     booking.status.value)
        except Exception:
            log.exception("telling %s about booking %s failed", user_id, booking.id)
