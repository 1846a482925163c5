"""The room catalogue in MongoDB: rooms, their edit log and room managers' scopes.

Collections: `rooms` (one document per room, `_id` its id, changed only by compare-and-set on
`version`), `room_edits` (one document per change, `_id` "<room_id>:<version>"), and
`room_scopes` (one document per room manager, `_id` their user id).

Kept to what nx-27017 does right (shared/research/nx-27017.md): arrays of scalars are set
whole and searched with `$all` (equality on an array element misses after the array is set),
documents are inserted or `$set` whole, and nothing is queried by equality with null."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.clock import iso
from core.mongo import Database, Document
from rooms.models import Room, RoomStatus

# The statuses a search shows unless it asks for others.
LISTED = (RoomStatus.ACTIVE, RoomStatus.MAINTENANCE)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class RoomEdit:
    """One change of a room: who made it, when, and each changed field's [from, to] (wire
    forms)."""

    room_id: str
    version: int
    actor: str
    at: datetime
    action: str  # create | update | retire
    changes: dict[str, list[Any]]

    def to_wire(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "version": self.version, "actor": self.actor,
                "at": iso(self.at), "action": self.action, "changes": self.changes}

    def to_doc(self) -> Document:
        return {"_id": f"{self.room_id}:{self.version}", "room_id": self.room_id,
                "version": self.version, "actor": self.actor, "at": self.at,
                "action": self.action, "changes": self.changes}

    @classmethod
    def from_doc(cls, doc: Document) -> RoomEdit:
        return cls(room_id=doc["room_id"], version=int(doc["version"]), actor=doc["actor"],
                   at=_aware(doc["at"]), action=doc["action"],
                   changes=dict(doc.get("changes") or {}))


@dataclass(frozen=True)
class RoomScope:
    """The rooms a room manager manages beyond those naming them: every room in one of
    `buildings`, and every room of one of `dept_ids` or of a department below one."""

    user_id: str
    buildings: tuple[str, ...] = ()
    dept_ids: tuple[str, ...] = ()
    updated_by: str | None = None
    updated_at: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "buildings": list(self.buildings),
                "dept_ids": list(self.dept_ids), "updated_by": self.updated_by,
                "updated_at": iso(self.updated_at) if self.updated_at else None}

    def to_doc(self) -> Document:
        return {"_id": self.user_id, "buildings": list(self.buildings),
                "dept_ids": list(self.dept_ids), "updated_by": self.updated_by,
                "updated_at": self.updated_at}

    @classmethod
    def from_doc(cls, doc: Document) -> RoomScope:
        return cls(user_id=doc["_id"], buildings=tuple(doc.get("buildings") or ()),
                   dept_ids=tuple(doc.get("dept_ids") or ()), updated_by=doc.get("updated_by"),
                   updated_at=_aware(doc["updated_at"]) if doc.get("updated_at") else None)


class RoomStore:
    def __init__(self, db: Database) -> None:
        self._rooms = db["rooms"]
        self._edits = db["room_edits"]
        self._scopes = db["room_scopes"]

    async def ensure_indexes(self) -> None:
        await self._rooms.create_index([("status", ASCENDING), ("capacity", ASCENDING)])
        await self._rooms.create_index([("building", ASCENDING)])
        await self._edits.create_index([("room_id", ASCENDING), ("version", ASCENDING)])

    # rooms -------------------------------------------------------------------------------

    async def get(self, room_id: str) -> Room | None:
        doc = await self._rooms.find_one({"_id": room_id})
        return Room.from_doc(doc) if doc else None

    async def insert(self, room: Room) -> bool:
        """Store a new room; False when a room with its id exists already."""
        try:
            await self._rooms.insert_one(room.to_doc())
        except DuplicateKeyError:
            return False
        return True

    async def compare_and_set(self, room: Room, expected_version: int) -> Room | None:
        """Replace the room's fields with `room`'s, only if it is still at `expected_version`
        (`room.version` should be the next one); None when another writer came first."""
        fields = room.to_doc()
        del fields["_id"]
        doc = await self._rooms.find_one_and_update(
            {"_id": room.id, "version": expected_version}, {"$set": fields},
            return_document=ReturnDocument.AFTER)
        return Room.from_doc(doc) if doc else None

    async def find(self, *, statuses: Iterable[RoomStatus] = LISTED,
                   min_capacity: int | None = None, building: str | None = None,
                   equipment: Iterable[str] = ()) -> list[Room]:
        """Rooms in one of `statuses` holding at least `min_capacity` people, in `building`,
        with every piece of `equipment`; smallest first, then by name."""
        query: Document = {"status": {"$in": [str(s) for s in statuses]}}
        if min_capacity is not None:
            query["capacity"] = {"$gte": min_capacity}
        if building is not None:
            query["building"] = building
        wanted = sorted(set(equipment))
        if wanted:
            query["equipment"] = {"$all": wanted}
        cursor = self._rooms.find(query).sort([("capacity", ASCENDING), ("name", ASCENDING),
                                               ("_id", ASCENDING)])
        return [Room.from_doc(doc) async for doc in cursor]

    # edit log ----------------------------------------------------------------------------

    async def append_edit(self, edit: RoomEdit) -> None:
        """Idempotent: one entry per (room, version)."""
        try:
            await self._edits.insert_one(edit.to_doc())
        except DuplicateKeyError:
            pass

    async def edits(self, room_id: str) -> list[RoomEdit]:
        cursor = self._edits.find({"room_id": room_id}).sort("version", ASCENDING)
        return [RoomEdit.from_doc(doc) async for doc in cursor]

    # scopes ------------------------------------------------------------------------------

    async def get_scope(self, user_id: str) -> RoomScope | None:
        doc = await self._scopes.find_one({"_id": user_id})
        return RoomScope.from_doc(doc) if doc else None

    async def set_scope(self, scope: RoomScope) -> RoomScope:
        fields = scope.to_doc()
        del fields["_id"]
        for _ in range(2):  # two first writers race to insert: the loser updates
            try:
                doc = await self._scopes.find_one_and_update(
                    {"_id": scope.user_id}, {"$set": fields}, upsert=True,
                    return_document=ReturnDocument.AFTER)
            except DuplicateKeyError:
                continue
            return RoomScope.from_doc(doc) if doc else scope
        return scope
