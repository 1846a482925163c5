"""Meeting materials (会议材料, PROTOCOL §6): documents a host uploads to an agenda item, listed
and downloaded by the meeting's members (organiser, hosts, invitees). A confidential meeting's
materials cannot be downloaded once it is over (ended or cancelled), and their bytes are then
deleted ("expired"); their records stay, so the list still shows what there was.

A material is a record in `meeting_materials` and a file in the GridFS bucket `materials`
under the same id.

Upload writes the record first, in state `uploading` (not listed), then the bytes, then moves
the record to `stored` by compare-and-set guarded by `expired: false`, then reads the meeting
again. An upload that finds the meeting over after storing its record, or whose record was
expired while the bytes were arriving, deletes its record and its file and answers `gone`:
a material is kept only if the meeting was not over after it was stored, and then the expiry
that follows the end (which reads the records after the status changed) finds it. Because the
record exists before any byte, a node that dies mid-upload leaves a record the sweep can find
(an `uploading` record older than `STALE_UPLOAD` is discarded with its bytes).

Expiry of one record: mark it `expired` (guarded by `expired: false`), delete its file, then
clear `purge`, in that order, so a node dying in between leaves `purge: true` and the next
sweep finishes it. The sweep (every `SWEEP_EVERY` seconds on every node, idempotent) looks up
the meetings of records with `purge: true` (set at upload for a confidential meeting's
materials) and expires those of meetings that are over: ended on another node, cancelled
because their booking ended, or ended while this node was down. The edge also asks for the
expiry right after a host ends or cancels a meeting.

A download reads the whole file into memory before it answers (at most `FILE_MAX_BYTES` per
download in flight) and looks at the meeting again after reading: it answers the full bytes
or an error, never a stream cut short by a concurrent delete or expiry."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gridfs import AsyncGridFSBucket, NoFile
from gridfs.errors import CorruptGridFile
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import OperationFailure

from chat.files import clean_name, write_limited
from chat.sniff import sniff
from core.bus import DomainEvent
from core.clock import Clock, iso
from core.errors import BadRequest, Conflict, Forbidden, Gone, NotFound
from core.mongo import Database, Document
from core.tasks import Periodic
from meetings.records import Meeting

log = logging.getLogger(__name__)

UPLOADING, STORED = "uploading", "stored"
SWEEP_EVERY = 60.0  # seconds between each node's sweeps for materials to expire
STALE_UPLOAD = 3600.0  # seconds after which an upload still `uploading` is a dead node's
SEALED = "confidential materials are not downloadable after the meeting ends"

Publish = Callable[[DomainEvent], Awaitable[None]]


class Meetings(Protocol):
    async def get(self, meeting_id: str) -> Meeting: ...


@dataclass(frozen=True)
class Material:
    id: str
    meeting_id: str
    item_id: str
    name: str
    size: int
    content_type: str
    uploaded_by: str
    uploaded_at: str
    state: str
    expired: bool = False
    expired_at: str | None = None

    def downloadable(self, meeting: Meeting) -> bool:
        return self.state == STORED and not self.expired and not sealed(meeting)

    def to_wire(self, meeting: Meeting) -> dict[str, Any]:
        titles = {item.id: item.title for item in meeting.agenda}
        return {"id": self.id, "meeting_id": self.meeting_id, "item_id": self.item_id,
                "item_title": titles.get(self.item_id), "name": self.name, "size": self.size,
                "content_type": self.content_type, "uploaded_by": self.uploaded_by,
                "uploaded_at": self.uploaded_at, "expired": self.expired,
                "expired_at": self.expired_at, "downloadable": self.downloadable(meeting)}

    @classmethod
    def from_doc(cls, doc: Document) -> Material:
        return cls(id=doc["_id"], meeting_id=doc["meeting_id"], item_id=doc["item_id"],
                   name=doc["name"], size=int(doc.get("size", 0)),
                   content_type=doc.get("content_type") or "application/octet-stream",
                   uploaded_by=doc["uploaded_by"], uploaded_at=doc["uploaded_at"],
                   state=doc["state"], expired=bool(doc.get("expired")),
                   expired_at=doc.get("expired_at"))


@dataclass(frozen=True)
class Listing:
    meeting: Meeting
    materials: tuple[Material, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"meeting_id": self.meeting.id, "confidential": self.meeting.confidential,
                "status": self.meeting.status,
                "materials": [m.to_wire(self.meeting) for m in self.materials]}


def sealed(meeting: Meeting) -> bool:
    """No download of any of its materials: a confidential meeting that is over."""
    return meeting.confidential and meeting.over


def material_name(name: str | None) -> str:
    """The display name: no path, no control characters, at most 255 characters."""
    cleaned = clean_name(name)
    if cleaned in (".", ".."):
        raise BadRequest("name: not a file name")
    return cleaned


class MaterialStore:
    """Records in `meeting_materials`, bytes in the GridFS bucket `materials`. Every query is
    an equality (nx-27017 scans on `$in` and ranges); times are ISO strings."""

    def __init__(self, db: Database) -> None:
        self._records = db["meeting_materials"]
        self._bucket = AsyncGridFSBucket(db, bucket_name="materials")

    async def ensure_indexes(self) -> None:
        await self._records.create_index([("meeting_id", ASCENDING)])
        await self._records.create_index([("purge", ASCENDING)])
        await self._records.create_index([("state", ASCENDING)])

    async def insert(self, doc: Document) -> None:
        await self._records.insert_one(doc)

    async def get(self, material_id: str) -> Material | None:
        doc = await self._records.find_one({"_id": material_id})
        return Material.from_doc(doc) if doc else None

    async def of_meeting(self, meeting_id: str) -> list[Document]:
        return await self._records.find({"meeting_id": meeting_id}).to_list()

    async def purgeable_meetings(self) -> list[str]:
        docs = await self._records.find({"purge": True}, {"meeting_id": 1}).to_list()
        return list(dict.fromkeys(str(doc["meeting_id"]) for doc in docs))

    async def uploading(self) -> list[Document]:
        return await self._records.find({"state": UPLOADING}).to_list()

    async def stored(self, material_id: str, size: int, content_type: str) -> Material | None:
        """`uploading` -> `stored`, unless it was expired (or discarded) meanwhile."""
        doc = await self._records.find_one_and_update(
            {"_id": material_id, "state": UPLOADING, "expired": False},
            {"$set": {"state": STORED, "size": size, "content_type": content_type}},
            return_document=ReturnDocument.AFTER)
        return Material.from_doc(doc) if doc else None

    async def mark_expired(self, material_id: str, at: str) -> bool:
        done = await self._records.update_one({"_id": material_id, "expired": False},
                                              {"$set": {"expired": True, "expired_at": at}})
        return done.modified_count > 0

    async def purged(self, material_id: str) -> None:
        await self._records.update_one({"_id": material_id}, {"$set": {"purge": False}})

    async def remove(self, material_id: str, state: str | None = None) -> bool:
        """Delete the record (only in `state`, if given); whether this call deleted it."""
        query: Document = {"_id": material_id}
        if state is not None:
            query["state"] = state
        return (await self._records.delete_one(query)).deleted_count > 0

    async def write(self, material_id: str, name: str, meeting_id: str,
                    chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[int, bytes]:
        """Stream the bytes into GridFS; their size and first bytes. `TooLarge` as soon as
        they pass `max_bytes`."""
        stream = self._bucket.open_upload_stream_with_id(
            material_id, name, metadata={"meeting_id": meeting_id})
        return await write_limited(stream, chunks, max_bytes)

    async def read(self, material_id: str) -> bytes | None:
        """All the bytes, or None if the file is gone (or went while being read)."""
        try:
            stream = await self._bucket.open_download_stream(material_id)
            return await stream.read()
        except (NoFile, CorruptGridFile):
            return None

    async def delete_file(self, material_id: str) -> None:
        # Deleted already (nx-27017 reports that as OperationFailure, MongoDB as NoFile).
        with contextlib.suppress(NoFile, OperationFailure):
            await self._bucket.delete(material_id)


class MaterialService:
    def __init__(self, store: MaterialStore, meetings: Meetings, clock: Clock, max_bytes: int,
                 publish: Publish | None = None) -> None:
        self._store = store
        self._meetings = meetings
        self._clock = clock
        self.max_bytes = max_bytes
        self._publish = publish
        self._sweeper = Periodic(clock, SWEEP_EVERY, self.sweep_quietly, "materials sweep")

    def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def upload(self, user_id: str, meeting_id: str, item_id: str, name: str | None,
                     chunks: AsyncIterator[bytes]) -> tuple[Meeting, Material]:
        """A host adds a document to an agenda item of a meeting not yet over (the meeting
        as it was after the material was stored, and the material). The content type is
        sniffed from the bytes, never taken from the uploader."""
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host uploads the meeting's materials")
        meeting.agenda_item(item_id)
        meeting.refuse_if_over()
        filename = material_name(name)
        material_id = f"mat_{secrets.token_hex(8)}"
        await self._store.insert({
            "_id": material_id, "meeting_id": meeting_id, "item_id": item_id,
            "name": filename, "size": 0, "content_type": None, "uploaded_by": user_id,
            "uploaded_at": iso(self._clock.now()), "started_at": self._clock.time(),
            "state": UPLOADING, "expired": False, "expired_at": None,
            "purge": meeting.confidential})
        try:
            size, head = await self._store.write(material_id, filename, meeting_id, chunks,
                                                 self.max_bytes)
        except BaseException:
            await self._discard(material_id)
            raise
        material = await self._store.stored(material_id, size, sniff(head))
        if material is None:  # expired while the bytes arrived: the meeting is over
            await self._discard(material_id)
            (await self._meetings.get(meeting_id)).refuse_if_over()
            # Or a sweep took it for a dead node's upload (it ran past STALE_UPLOAD).
            raise Conflict("the upload took too long and was discarded; upload again")
        meeting = await self._meetings.get(meeting_id)
        if meeting.over:  # it ended while this upload ran: nothing of it is kept
            await self._discard(material_id)
            meeting.refuse_if_over()
        await self._changed(meeting)
        return meeting, material

    async def list(self, user_id: str, meeting_id: str) -> Listing:
        """Every stored material, expired ones too, in agenda order (items no longer on the
        agenda last), then in the order uploaded."""
        meeting = await self._member_meeting(user_id, meeting_id)
        order = {item.id: index for index, item in enumerate(meeting.agenda)}
        found = [Material.from_doc(doc) for doc in await self._store.of_meeting(meeting_id)
                 if doc.get("state") == STORED]
        found.sort(key=lambda m: (order.get(m.item_id, len(order)), m.uploaded_at, m.id))
        return Listing(meeting, tuple(found))

    async def download(self, user_id: str, meeting_id: str,
                       material_id: str) -> tuple[Material, bytes]:
        """The material and all its bytes, read before anything is answered."""
        meeting = await self._member_meeting(user_id, meeting_id)
        material = await self._material(meeting_id, material_id)
        self._refuse_if_sealed(meeting, material)
        data = await self._store.read(material_id)
        # Look again: a delete, an expiry or the end may have come while the bytes were read.
        meeting = await self._meetings.get(meeting_id)
        now = await self._store.get(material_id)
        if now is None or now.state != STORED:
            raise NotFound(f"no material {material_id} in this meeting")
        self._refuse_if_sealed(meeting, now)
        if data is None:
            raise NotFound(f"no material {material_id} in this meeting")
        return now, data

    async def delete(self, user_id: str, meeting_id: str, material_id: str) -> None:
        """A host removes a material before the meeting is over. Of two deletes of one
        material one deletes it; the other answers `not_found`."""
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host deletes the meeting's materials")
        await self._material(meeting_id, material_id)
        meeting.refuse_if_over()
        if not await self._store.remove(material_id, STORED):
            raise NotFound(f"no material {material_id} in this meeting")
        await self._store.delete_file(material_id)
        await self._changed(meeting)

    async def meeting_over(self, meeting_id: str) -> int:
        """Expire the materials of a meeting just ended or cancelled, if it is confidential;
        how many were expired now. The edge calls it after `meeting:end` and
        `meeting:cancel`; the sweep does the same for any meeting it missed."""
        meeting = await self._meeting_or_none(meeting_id)
        if meeting is not None and not sealed(meeting):
            return 0
        return await self._expire(meeting_id, meeting)

    async def sweep(self) -> int:
        """Expire the materials of every confidential meeting that is over (or no longer
        exists) and still has bytes; discard uploads a dead node left half done. How many
        materials were expired."""
        expired = 0
        for meeting_id in await self._store.purgeable_meetings():
            meeting = await self._meeting_or_none(meeting_id)
            if meeting is None or sealed(meeting):
                expired += await self._expire(meeting_id, meeting)
        now = self._clock.time()
        for doc in await self._store.uploading():
            if now - float(doc.get("started_at", now)) > STALE_UPLOAD:
                await self._discard(str(doc["_id"]))
        return expired

    async def sweep_quietly(self) -> None:
        expired = await self.sweep()
        if expired:
            log.info("expired %d confidential meeting materials", expired)

    # ---------------------------------------------------------------------------------------

    async def _expire(self, meeting_id: str, meeting: Meeting | None) -> int:
        expired = 0
        at = iso(self._clock.now())
        for doc in await self._store.of_meeting(meeting_id):
            if not doc.get("purge"):
                continue
            material_id = str(doc["_id"])
            # Mark, delete the bytes, clear `purge`: a node dying in between leaves `purge`
            # set and the next sweep finishes. An upload still running keeps `purge` until
            # its uploader (which finds its record expired) discards it.
            if await self._store.mark_expired(material_id, at):
                expired += 1
            await self._store.delete_file(material_id)
            if doc.get("state") == STORED:
                await self._store.purged(material_id)
        if expired and meeting is not None:
            await self._changed(meeting)
        return expired

    async def _discard(self, material_id: str) -> None:
        """An upload that did not make it: its record and whatever bytes it wrote."""
        # Its record may be `stored` already (it lost to the end after storing): that too.
        await self._store.remove(material_id)
        await self._store.delete_file(material_id)

    async def _member_meeting(self, user_id: str, meeting_id: str) -> Meeting:
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_member(user_id):
            raise Forbidden("only the meeting's members see its materials")
        if user_id in meeting.removed:
            raise Forbidden("a host removed you from this meeting")
        return meeting

    async def _material(self, meeting_id: str, material_id: str) -> Material:
        material = await self._store.get(material_id)
        if material is None or material.meeting_id != meeting_id or material.state != STORED:
            raise NotFound(f"no material {material_id} in this meeting")
        return material

    @staticmethod
    def _refuse_if_sealed(meeting: Meeting, material: Material) -> None:
        if sealed(meeting) or material.expired:
            raise Gone(SEALED)

    async def _meeting_or_none(self, meeting_id: str) -> Meeting | None:
        try:
            return await self._meetings.get(meeting_id)
        except NotFound:
            return None

    async def _changed(self, meeting: Meeting) -> None:
        if self._publish is not None:
            await self._publish(DomainEvent("meeting:materials", {"meeting_id": meeting.id},
                                            meeting.members))
