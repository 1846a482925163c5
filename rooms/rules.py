"""Meeting-room booking rules (PROTOCOL §5). Pure: bookings, rooms and `now` in, a decision out.

All datetimes are timezone-aware UTC. `tz` is the organisation's zone (`ORG_TZ`): open hours
and the wall-clock time a recurring booking keeps are local to it. Refusals are `BadRequest`
whose message starts with the wire field it is about, so a client can point at the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from core.clock import iso
from core.errors import BadRequest
from rooms.models import HOLDING, Booking, BookingStatus, Room, RoomStatus

MAX_OCCURRENCES = 100
CHECKIN_OPENS_MINUTES = 10

Freq = Literal["daily", "weekly"]
_FREQS: tuple[Freq, ...] = ("daily", "weekly")
_RECURRENCE_KEYS = frozenset({"freq", "interval", "count", "until", "weekdays"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Interval = tuple[datetime, datetime]


# --- intervals ------------------------------------------------------------------------------

def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open [start, end): a booking ending at 10:00 and one starting at 10:00 don't clash."""
    return a_start < b_end and b_start < a_end


def conflicts(held: Iterable[Booking], wanted: Sequence[Interval]) -> list[tuple[int, Booking]]:
    """Every (occurrence index, held booking) that clash, so a refusal can list them all.

    Only bookings in a HOLDING status occupy the room; cancelled and released ones
    are history.
    """
    holding = [b for b in held if b.status in HOLDING]
    found = [(i, b) for i, (start, end) in enumerate(wanted)
             for b in holding if overlaps(start, end, b.start, b.end)]
    return sorted(found, key=lambda pair: (pair[0], pair[1].start, pair[1].id))


# --- a booking's own validity ---------------------------------------------------------------

def check_booking(room: Room, start: datetime, end: datetime, now: datetime, tz: tzinfo,
                  headcount: int) -> None:
    """Refuse a booking of `room` for [start, end) with the first reason that applies."""
    _check_room_open(room)
    _check_times(room, start, end, now)
    _check_open_hours(room, start, end, tz)
    if headcount > room.capacity:
        raise BadRequest(f"attendees: {headcount} people do not fit a room for {room.capacity}")


def _check_room_open(room: Room) -> None:
    if room.status is RoomStatus.MAINTENANCE:
        reason = f": {room.status_reason}" if room.status_reason else ""
        raise BadRequest(f"room_id: the room is under maintenance{reason}")
    if room.status is RoomStatus.RETIRED:
        raise BadRequest("room_id: the room is retired")


def _check_times(room: Room, start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise BadRequest("end: not after start")
    if start < now:
        raise BadRequest("start: in the past")
    if start > now + timedelta(days=room.window_days):
        raise BadRequest(f"start: beyond the booking window of {room.window_days} days")
    if end - start > timedelta(hours=room.max_hours):
        raise BadRequest(f"end: longer than the room's maximum of {room.max_hours:g} hours")


def _check_open_hours(room: Room, start: datetime, end: datetime, tz: tzinfo) -> None:
    """Both ends on one local day, inside the open hours (a start at closing time is outside)."""
    hours = room.open_hours
    shown = f"{hours.start:%H:%M}-{hours.end:%H:%M}"
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if not hours.start <= local_start.time() < hours.end:
        raise BadRequest(f"start: outside the room's open hours {shown}")
    if local_end.date() != local_start.date() or local_end.time() > hours.end:
        raise BadRequest(f"end: outside the room's open hours {shown}")


# --- recurrence -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Recurrence:
    """How a booking repeats. `until` is an inclusive local date.

    `weekdays` (ISO 1=Monday .. 7=Sunday, weekly only) empty means the weekday of the first
    occurrence, which is not known until the rule is applied to a start.
    """

    freq: Freq
    interval: int = 1
    count: int | None = None
    until: date | None = None
    weekdays: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.freq not in _FREQS:
            raise BadRequest("recurrence.freq: one of daily, weekly")
        if self.interval < 1:
            raise BadRequest("recurrence.interval: a whole number of at least 1")
        if self.count is not None and self.until is not None:
            raise BadRequest("recurrence: give count or until, not both")
        if self.count is None and self.until is None:
            raise BadRequest("recurrence: give count or until")
        if self.count is not None and not 1 <= self.count <= MAX_OCCURRENCES:
            raise BadRequest(f"recurrence.count: 1 to {MAX_OCCURRENCES}")
        if self.weekdays and self.freq != "weekly":
            raise BadRequest("recurrence.weekdays: only with freq weekly")
        if any(not 1 <= d <= 7 for d in self.weekdays):
            raise BadRequest("recurrence.weekdays: days 1 (Monday) to 7 (Sunday)")


def parse_recurrence(wire: Any) -> Recurrence | None:
    """The wire's `recurrence` object, checked for types here and for sense by Recurrence.

    An optional key given as null counts as absent.
    """
    if wire is None:
        return None
    if not isinstance(wire, dict):
        raise BadRequest("recurrence: an object")
    for key in sorted(map(str, wire)):
        if key not in _RECURRENCE_KEYS:
            raise BadRequest(f"recurrence.{key}: unknown field")
    freq = wire.get("freq")
    if freq not in _FREQS:
        raise BadRequest("recurrence.freq: one of daily, weekly")
    interval = wire.get("interval")
    count = wire.get("count")
    weekdays = wire.get("weekdays")
    return Recurrence(
        freq=freq,
        interval=1 if interval is None
        else _whole(interval, "recurrence.interval: a whole number of at least 1"),
        count=None if count is None else _whole(count, f"recurrence.count: 1 to {MAX_OCCURRENCES}"),
        until=_parse_until(wire.get("until")),
        weekdays=() if weekdays is None else _parse_weekdays(weekdays, freq))


def _whole(value: Any, refusal: str) -> int:
    # bool is an int to Python but never a count to a client.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(refusal)
    return value


def _parse_until(value: Any) -> date | None:
    if value is None:
        return None
    # fromisoformat alone would also take "20261122" and week dates.
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise BadRequest("recurrence.until: a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest("recurrence.until: a date YYYY-MM-DD") from None


def _parse_weekdays(value: Any, freq: str) -> tuple[int, ...]:
    if freq != "weekly":
        raise BadRequest("recurrence.weekdays: only with freq weekly")
    refusal = "recurrence.weekdays: a list of days 1 (Monday) to 7 (Sunday)"
    if not isinstance(value, list) or not value:
        raise BadRequest(refusal)
    days = {_whole(d, refusal) for d in value}
    if any(not 1 <= d <= 7 for d in days):
        raise BadRequest(refusal)
    return tuple(sorted(days))


def occurrences(start: datetime, end: datetime, rule: Recurrence | None,
                tz: tzinfo) -> list[Interval]:
    """The intervals a booking occupies: (start, end) first, then the rule's repeats.

    Repeats keep the local wall-clock start time (so 09:00 stays 09:00 across a daylight
    saving change) and the same elapsed duration. Returned in UTC, in order.
    """
    if rule is None:
        return [(start, end)]
    local = start.astimezone(tz)
    if rule.until is not None and rule.until < local.date():
        raise BadRequest("recurrence.until: before the first occurrence")
    found = [(start, end)]
    for day in _repeat_dates(local.date(), rule):
        if rule.count is not None and len(found) >= rule.count:
            break
        if rule.until is not None and day > rule.until:
            break
        if len(found) >= MAX_OCCURRENCES:
            raise BadRequest(f"recurrence: more than {MAX_OCCURRENCES} occurrences")
        repeat = datetime.combine(day, local.time(), tzinfo=tz).astimezone(UTC)
        found.append((repeat, repeat + (end - start)))
    return found


def _repeat_dates(first: date, rule: Recurrence) -> Iterator[date]:
    """Local dates after `first` that the rule names, for ever; the caller stops."""
    if rule.freq == "daily":
        step = timedelta(days=rule.interval)
        day = first + step
        while True:
            yield day
            day += step
    weekdays = rule.weekdays or (first.isoweekday(),)
    monday = first - timedelta(days=first.weekday())
    while True:
        for weekday in weekdays:
            day = monday + timedelta(days=weekday - 1)
            if day > first:
                yield day
        monday += timedelta(weeks=rule.interval)


# --- check-in and release -------------------------------------------------------------------

def check_in_refusal(booking: Booking, now: datetime, room: Room | None = None) -> str | None:
    """Why `booking` cannot be checked in to at `now`, or None when it can.

    Given the room, a booking whose release is due is refused even if the release has not
    been carried out yet, so a late check-in cannot race the release.
    """
    if booking.status is not BookingStatus.CONFIRMED:
        return "the booking is not confirmed"
    if booking.checked_in_at is not None:
        return "the booking is already checked in"
    if now >= booking.end:
        return "the booking has ended"
    if now < booking.start - timedelta(minutes=CHECKIN_OPENS_MINUTES):
        return f"check-in opens {CHECKIN_OPENS_MINUTES} minutes before the start"
    if room is not None and release_due(booking, room, now):
        return (f"the booking was released: nobody checked in within "
                f"{room.release_minutes} minutes of the start")
    return None


def release_due_at(booking: Booking, room: Room) -> datetime | None:
    """When a confirmed booking nobody checked in to gives the room back; None: never."""
    if (room.release_minutes is None or booking.status is not BookingStatus.CONFIRMED
            or booking.checked_in_at is not None):
        return None
    return booking.start + timedelta(minutes=room.release_minutes)


def release_due(booking: Booking, room: Room, now: datetime) -> bool:
    due = release_due_at(booking, room)
    return due is not None and now >= due


# --- what a room looks like -----------------------------------------------------------------

def room_state(bookings: Iterable[Booking],
               now: datetime) -> tuple[str, Booking | None, datetime | None]:
    """("busy", the booking covering now, its end) or ("free", None, the next start or None).

    A busy room's next change is its current booking's end even when another follows back to
    back: the booking shown changes there.
    """
    holding = sorted((b for b in bookings if b.status in HOLDING), key=lambda b: b.start)
    for booking in holding:
        if booking.start <= now < booking.end:
            return "busy", booking, booking.end
    upcoming = [b.start for b in holding if b.start > now]
    return "free", None, min(upcoming, default=None)


def next_change_at(bookings: Iterable[Booking], room: Room,
                   now: datetime) -> datetime | None:
    """The first moment after `now` (or `now` itself, when overdue) at which the room's state
    or one of its bookings changes by the clock alone: a holding booking starts or ends, an
    unattended one is released, a pending one runs out of time to be decided."""
    moments: list[datetime] = []
    for booking in bookings:
        if booking.status not in HOLDING:
            continue
        moments += [m for m in (booking.start, booking.end) if m > now]
        due = release_due_at(booking, room)
        if due is not None and booking.end > now:
            moments.append(max(due, now))
        if booking.status is BookingStatus.PENDING and booking.decide_by is not None:
            moments.append(max(booking.decide_by, now))
    return min(moments, default=None)


def busy_intervals(bookings: Iterable[Booking], day_start: datetime,
                   day_end: datetime) -> list[dict[str, Any]]:
    """The holding bookings within [day_start, day_end), clipped to it, for an availability
    grid; in order of start."""
    shown = sorted((b for b in bookings
                    if b.status in HOLDING and overlaps(b.start, b.end, day_start, day_end)),
                   key=lambda b: (b.start, b.id))
    return [{"start": iso(max(b.start, day_start)), "end": iso(min(b.end, day_end)),
             "booking_id": b.id, "status": b.status.value, "title": b.title}
            for b in shown]


def local_day_bounds(day: date, tz: tzinfo) -> Interval:
    """UTC [start, end) of a local day: local midnight to the next, not always 24 hours."""
    return _local_midnight(day, tz), _local_midnight(day + timedelta(days=1), tz)


def local_week_bounds(day: date, tz: tzinfo) -> Interval:
    """UTC [start, end) of the local Monday-to-Sunday week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return _local_midnight(monday, tz), _local_midnight(monday + timedelta(weeks=1), tz)


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
