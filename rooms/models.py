"""A meeting room and a booking of one, as stored and as the wire shows them (PROTOCOL §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Any

from core.clock import iso
from core.mongo import Document

EQUIPMENT = ("projector", "screen_share", "video_conf", "microphone", "whiteboard",
             "wired_network", "wifi")
DEFAULT_WINDOW_DAYS = 90
DEFAULT_MAX_HOURS = 8.0
# A booking nobody checked in to is released this long after its start (None: never).
DEFAULT_RELEASE_MINUTES = 10


class RoomStatus(StrEnum):
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


class BookingStatus(StrEnum):
    PENDING = "pending"      # waits on the room's managers; holds the slot meanwhile
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"  # by the booker or a manager, or the room was retired
    # The slot went back: rejected by the managers, not decided in time, or nobody checked in.
    RELEASED = "released"


# The statuses that occupy the room: no two bookings in them overlap.
HOLDING = frozenset({BookingStatus.PENDING, BookingStatus.CONFIRMED})


@dataclass(frozen=True)
class OpenHours:
    """Local time in the organisation's zone; `end` after `start` on the same day."""

    start: time
    end: time

    def to_wire(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}

    @classmethod
    def from_wire(cls, doc: dict[str, str]) -> OpenHours:
        return cls(time.fromisoformat(doc["start"]), time.fromisoformat(doc["end"]))


@dataclass(frozen=True)
class Room:
    id: str
    name: str
    building: str
    floor: str
    capacity: int
    area_m2: float | None
    equipment: frozenset[str]
    requires_approval: bool
    managers: tuple[str, ...]
    open_hours: OpenHours
    # The department the room belongs to (its managers' scope), if any.
    dept_id: str | None = None
    window_days: int = DEFAULT_WINDOW_DAYS
    max_hours: float = DEFAULT_MAX_HOURS
    release_minutes: int | None = DEFAULT_RELEASE_MINUTES
    status: RoomStatus = RoomStatus.ACTIVE
    status_reason: str | None = None
    version: int = 1

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "building": self.building,
                "floor": self.floor, "capacity": self.capacity, "area_m2": self.area_m2,
                "equipment": sorted(self.equipment),
                "requires_approval": self.requires_approval,
                "managers": list(self.managers), "open_hours": self.open_hours.to_wire(),
                "dept_id": self.dept_id, "window_days": self.window_days,
                "max_hours": self.max_hours, "release_minutes": self.release_minutes,
                "status": self.status.value, "status_reason": self.status_reason,
                "version": self.version}

    def to_doc(self) -> Document:
        doc = self.to_wire()
        doc["_id"] = doc.pop("id")
        return doc

    @classmethod
    def from_doc(cls, doc: Document) -> Room:
        return cls(id=doc["_id"], name=doc["name"], building=doc["building"],
                   floor=doc["floor"], capacity=int(doc["capacity"]),
                   area_m2=doc.get("area_m2"), equipment=frozenset(doc.get("equipment", ())),
                   requires_approval=bool(doc.get("requires_approval")),
                   managers=tuple(doc.get("managers", ())),
                   open_hours=OpenHours.from_wire(doc["open_hours"]),
                   dept_id=doc.get("dept_id"),
                   window_days=int(doc.get("window_days", DEFAULT_WINDOW_DAYS)),
                   max_hours=float(doc.get("max_hours", DEFAULT_MAX_HOURS)),
                   release_minutes=doc.get("release_minutes", DEFAULT_RELEASE_MINUTES),
                   status=RoomStatus(doc.get("status", RoomStatus.ACTIVE)),
                   status_reason=doc.get("status_reason"), version=int(doc.get("version", 1)))


@dataclass(frozen=True)
class Booking:
    id: str
    room_id: str
    title: str
    booker: str
    start: datetime
    end: datetime
    status: BookingStatus
    attendees: tuple[str, ...] = ()
    # How many people come (at least the attendees named, plus the booker).
    headcount: int = 1
    series_id: str | None = None
    checked_in_at: datetime | None = None
    card_id: str | None = None
    created_at: datetime | None = None
    # Why it ended (cancelled or released), when it did.
    reason: str | None = None
    # A pending booking not decided by then is released.
    decide_by: datetime | None = None

    @property
    def holds(self) -> bool:
        """Whether it holds its room's time (pending or confirmed)."""
        return self.status in HOLDING

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "title": self.title,
                "booker": self.booker, "start": iso(self.start), "end": iso(self.end),
                "status": self.status.value, "attendees": list(self.attendees),
                "headcount": self.headcount, "series_id": self.series_id,
                "checked_in_at": iso(self.checked_in_at) if self.checked_in_at else None,
                "card_id": self.card_id,
                "created_at": iso(self.created_at) if self.created_at else None,
                "reason": self.reason,
                "decide_by": iso(self.decide_by) if self.decide_by else None}

    def to_doc(self) -> Document:
        return {"_id": self.id, "room_id": self.room_id, "title": self.title,
                "booker": self.booker, "start": self.start, "end": self.end,
                "status": self.status.value, "attendees": list(self.attendees),
                "headcount": self.headcount, "series_id": self.series_id,
                "checked_in_at": self.checked_in_at, "card_id": self.card_id,
                "created_at": self.created_at, "reason": self.reason,
                "decide_by": self.decide_by}

    @classmethod
    def from_doc(cls, doc: Document) -> Booking:
        return cls(id=doc["_id"], room_id=doc["room_id"], title=doc["title"],
                   booker=doc["booker"], start=_utc(doc["start"]), end=_utc(doc["end"]),
                   status=BookingStatus(doc["status"]),
                   attendees=tuple(doc.get("attendees", ())),
                   headcount=int(doc.get("headcount", 1)), series_id=doc.get("series_id"),
                   checked_in_at=_utc(doc["checked_in_at"]) if doc.get("checked_in_at")
                   else None, card_id=doc.get("card_id"),
                   created_at=_utc(doc["created_at"]) if doc.get("created_at") else None,
                   reason=doc.get("reason"),
                   decide_by=_utc(doc["decide_by"]) if doc.get("decide_by") else None)


def _utc(value: Any) -> datetime:
    """Datetimes come back from the store naive (UTC) or, from some servers, as strings."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) \
        if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a time: {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
