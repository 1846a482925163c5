"""Bookings in MongoDB: each room's schedule, which decides, and a record per booking, which
answers queries.

Why two collections: no two holding bookings of a room may overlap however many writers race,
on one node or many, and a check followed by a separate insert can interleave with another's.
So every booking of a room that has not ended long ago lives inside one document,
`room_schedules` (`_id` the room id), and every change to a room's bookings (a new booking or
a whole recurring series, a cancellation, a decision, a check-in, a release) replaces that
document's `bookings` in one update guarded by its `version` (compare-and-set). A writer that
loses re-reads and decides again; a series is all or nothing because it is one write; a
process killed before that write leaves nothing and after it leaves the whole change.

Lists (someone's bookings, a room's over a period) and history need queries across
bookings, which one document per room cannot give, so each booking also has a record in
`bookings`, written after the schedule changed (the day grid and free-window search read the
busy index, rooms/busy_index.py, kept the same way). The schedule is the truth: a record
carries the schedule version it was written from (`rev`) and never goes back to an older one.
The schedule counts the versions whose records are all written (`synced`); a writer moves it
on after writing its records, and a process killed in between leaves the schedule `behind`
for `resync` to repair.

Kept to what nx-27017 does right (shared/research/nx-27017.md): the array of bookings is set
whole (a `$push` of documents is stored as strings), records' attendee lists are searched with
`$all`, and nothing is queried by a dotted path into an array of documents."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from core.mongo import Database, Document
from rooms.models import HOLDING, Booking

_DUPLICATE_KEY = 11000
# No booking is longer (it lies within one local day).
LONGEST = timedelta(days=1)


def room_of(booking_id: str) -> str:
    """The room a booking id names: ids are "<room id>~<token>"."""
    room_id, sep, token = booking_id.rpartition("~")
    return room_id if sep and room_id and token else ""


@dataclass(frozen=True)
class Schedule:
    """A room's bookings as one compare-and-set unit; version 0: none were ever stored."""

    room_id: str
    version: int = 0
    synced: int = 0
    bookings: tuple[Booking, ...] = field(default=())

    @property
    def holding(self) -> list[Booking]:
        return [b for b in self.bookings if b.status in HOLDING]

    def find(self, booking_id: str) -> Booking | None:
        return next((b for b in self.bookings if b.id == booking_id), None)

    @classmethod
    def from_doc(cls, doc: Document) -> Schedule:
        return cls(room_id=doc["_id"], version=int(doc["version"]),
                   synced=int(doc.get("synced", 0)),
                   bookings=tuple(Booking.from_doc(b) for b in doc.get("bookings") or ()))


class BookingStore:
    def __init__(self, db: Database) -> None:
        self._schedules = db["room_schedules"]
        self._records = db["bookings"]

    async def ensure_indexes(self) -> None:
        await self._schedules.create_index([("behind", ASCENDING), ("changed_at", ASCENDING)])
        await self._records.create_index([("start", ASCENDING)])
        await self._records.create_index([("room_id", ASCENDING), ("start", ASCENDING)])
        await self._records.create_index([("booker", ASCENDING), ("start", ASCENDING)])
        await self._records.create_index([("status", ASCENDING), ("end", ASCENDING)])

    # schedules (the truth) ---------------------------------------------------------------

    async def schedule(self, room_id: str) -> Schedule:
        doc = await self._schedules.find_one({"_id": room_id})
        return Schedule.from_doc(doc) if doc else Schedule(room_id)

    async def schedules(self, room_ids: Sequence[str]) -> dict[str, Schedule]:
        found = {doc["_id"]: Schedule.from_doc(doc) async for doc in
                 self._schedules.find({"_id": {"$in": list(room_ids)}})}
        return {r: found.get(r) or Schedule(r) for r in room_ids}

    async def commit(self, before: Schedule, bookings: Iterable[Booking],
                     now: datetime) -> Schedule | None:
        """Replace the room's bookings if the schedule is still at `before.version`; the
        schedule as stored, or None when another writer came first."""
        docs = [b.to_doc() for b in bookings]
        version = before.version + 1
        fields = {"version": version, "bookings": docs, "behind": True, "changed_at": now}
        if before.version == 0:
            try:
                await self._schedules.insert_one({"_id": before.room_id, "synced": 0, **fields})
            except DuplicateKeyError:
                return None
        else:
            result = await self._schedules.update_one(
                {"_id": before.room_id, "version": before.version}, {"$set": fields})
            if result.matched_count == 0:
                return None
        return Schedule(before.room_id, version, before.synced,
                        tuple(Booking.from_doc(d) for d in docs))

    async def mark_synced(self, room_id: str, version: int) -> None:
        """Records up to `version` are written: move `synced` on if the versions before it were
        synced, and clear `behind` if nobody wrote after it."""
        done = await self._schedules.update_one(
            {"_id": room_id, "synced": version - 1, "version": version},
            {"$set": {"synced": version, "behind": False}})
        if done.matched_count == 0:
            await self._schedules.update_one({"_id": room_id, "synced": version - 1},
                                             {"$set": {"synced": version}})

    async def mark_all_synced(self, schedule: Schedule) -> None:
        """Every booking of `schedule` has its record: done, unless it moved on meanwhile."""
        await self._schedules.update_one(
            {"_id": schedule.room_id, "version": schedule.version},
            {"$set": {"synced": schedule.version, "behind": False}})

    async def behind(self, changed_before: datetime, limit: int) -> list[str]:
        """Rooms whose records may lag their schedule since before `changed_before`."""
        cursor = self._schedules.find({"behind": True, "changed_at": {"$lt": changed_before}},
                                      {"_id": 1}).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def room_ids(self) -> list[str]:
        return [doc["_id"] async for doc in self._schedules.find({}, {"_id": 1})]

    # records (for queries) ---------------------------------------------------------------

    async def write_records(self, bookings: Iterable[Booking], rev: int) -> None:
        """Upsert each booking's record as of schedule version `rev`; a record already written
        from a later version stays (its upsert meets the duplicate key and is skipped)."""
        ops = []
        for booking in bookings:
            doc = booking.to_doc()
            del doc["_id"]
            ops.append(UpdateOne({"_id": booking.id, "rev": {"$lt": rev}},
                                 {"$set": {**doc, "rev": rev}}, upsert=True))
        if not ops:
            return
        try:
            await self._records.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise

    async def record(self, booking_id: str) -> Booking | None:
        doc = await self._records.find_one({"_id": booking_id})
        return Booking.from_doc(doc) if doc else None

    async def of_room(self, room_id: str, start: datetime, end: datetime) -> list[Booking]:
        """Records of the room's holding bookings overlapping [start, end), by start. (One
        range on the index, the rest sifted here: the embedded server scans for `$in`.)"""
        cursor = self._records.find(
            {"room_id": room_id, "start": {"$gte": start - LONGEST, "$lt": end}}
        ).sort([("start", ASCENDING), ("_id", ASCENDING)])
        found = [Booking.from_doc(doc) async for doc in cursor]
        return [b for b in found if b.end > start and b.status in HOLDING]

    async def of_person(self, user_id: str, since: datetime, limit: int) -> list[Booking]:
        """Bookings someone made or attends that end after `since`, soonest first."""
        cursor = self._records.find(
            {"$or": [{"booker": user_id}, {"attendees": {"$all": [user_id]}}],
             "end": {"$gt": since}}).sort([("start", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [Booking.from_doc(doc) async for doc in cursor]


def with_changes(bookings: Iterable[Booking], changed: Iterable[Booking]) -> list[Booking]:
    """`bookings` with `changed` ones replacing those of the same id and new ones added, in
    order of start."""
    by_id = {b.id: b for b in bookings}
    for booking in changed:
        by_id[booking.id] = booking
    return sorted(by_id.values(), key=lambda b: (b.start, b.id))

