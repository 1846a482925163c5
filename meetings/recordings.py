"""Meeting recordings (PROTOCOL §6, Recording): whether a meeting is being recorded, and the
files its media node wrote.

- The decision is a field of the meeting's document, `recording` {"on", "id", "since",
  "by"}, with `recording_seq` counting its changes. A host's start or stop is a
  compare-and-set on `recording_seq`: of two hosts starting at once one writes, the other
  reads again, finds it recording and answers with that same recording; stopping what is not
  recording changes nothing and is no error. The media node applies decisions in
  `recording_seq` order (media/recorder.py), whichever way they reach it.
- Each file is a record in `recordings` (`_id` the file id): who and which device, when, the
  tracks, size and duration, `status` "recording" until the file is closed and copied into
  GridFS (bucket "recordings"), then "ready" ("failed" if the copy failed). The media node
  writes the file under DATA_DIR; a download may reach any node, so it streams from GridFS.
- Members (organiser, hosts, invitees) list and download; only hosts start and stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from gridfs import AsyncGridFSBucket, NoFile
from pymongo import ReturnDocument
from pymongo.errors import OperationFailure

from core.clock import Clock, iso
from core.errors import Conflict, Forbidden, Gone, NotFound
from core.mongo import Database
from meetings.records import ENDED, Meeting, MeetingService

log = logging.getLogger(__name__)

RECORDING, READY, FAILED = "recording", "ready", "failed"
OVER = (ENDED, "cancelled")
CONTENT_TYPE = "video/x-matroska"
ATTEMPTS = 5
UPLOAD_CHUNK = 1024 * 1024
STOP_WAIT = 10.0  # seconds a stopping node gives its unfinished copies into GridFS


class TrackReport(Protocol):
    def to_doc(self) -> dict[str, str]: ...


class FileReport(Protocol):
    """A file as the media node reports it (media/recorder.py `FileInfo`); meetings does not
    depend on media, the media node is handed this service as its catalogue."""

    @property
    def file_id(self) -> str: ...
    @property
    def meeting_id(self) -> str: ...
    @property
    def recording_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def started_at(self) -> float: ...
    @property
    def ended_at(self) -> float | None: ...
    @property
    def duration(self) -> float | None: ...
    @property
    def size(self) -> int | None: ...
    @property
    def tracks(self) -> tuple[TrackReport, ...]: ...
    @property
    def frames(self) -> dict[str, int]: ...
    @property
    def dropped_packets(self) -> int: ...
    @property
    def lost_frames(self) -> int: ...
    @property
    def failed(self) -> bool: ...
    @property
    def empty(self) -> bool: ...


def _iso_epoch(seconds: float | None) -> str | None:
    return iso(datetime.fromtimestamp(seconds, UTC)) if seconds is not None else None


@dataclass(frozen=True)
class RecordingState:
    """A meeting's recording decision, as its document holds it."""

    meeting_id: str
    on: bool
    recording_id: str | None
    since: str | None  # ISO 8601: the start of the current (or last) recording
    by: str | None     # who started or stopped it last
    seq: int

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RecordingState:
        state = doc.get("recording") or {}
        on = bool(state.get("on")) and doc.get("status") not in OVER
        return cls(doc["_id"], on, state.get("id"), state.get("since"), state.get("by"),
                   int(doc.get("recording_seq") or 0))

    def to_wire(self) -> dict[str, Any]:
        return {"meeting_id": self.meeting_id, "recording": self.on,
                "recording_id": self.recording_id, "since": self.since, "by": self.by}

    def decision(self) -> dict[str, Any]:
        """What the media node is told (media/recorder.py `Recorders.apply`)."""
        return {"on": self.on, "recording_id": self.recording_id, "seq": self.seq}


@dataclass(frozen=True)
class RecordedFile:
    id: str
    meeting_id: str
    recording_id: str
    user_id: str
    session_id: str
    started_at: str
    ended_at: str | None
    duration: float | None
    size: int | None
    tracks: tuple[dict[str, str], ...]
    status: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RecordedFile:
        return cls(doc["_id"], doc["meeting_id"], doc["recording_id"], doc["user_id"],
                   doc["session_id"], doc["started_at"], doc.get("ended_at"),
                   doc.get("duration"), doc.get("size"), tuple(doc.get("tracks") or ()),
                   doc["status"])

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "meeting_id": self.meeting_id,
                "recording_id": self.recording_id, "user_id": self.user_id,
                "session_id": self.session_id, "started_at": self.started_at,
                "ended_at": self.ended_at, "duration": self.duration, "size": self.size,
                "tracks": list(self.tracks), "status": self.status,
                "content_type": CONTENT_TYPE,
                "url": f"/api/v1/meetings/{self.meeting_id}/recordings/{self.id}"}


class RecordingStore:
    def __init__(self, db: Database) -> None:
        self._meetings = db["meetings"]
        self._files = db["recordings"]
        self._bucket = AsyncGridFSBucket(db, bucket_name="recordings")

    async def ensure_indexes(self) -> None:
        await self._files.create_index("meeting_id")

    async def meeting_doc(self, meeting_id: str) -> dict[str, Any] | None:
        return await self._meetings.find_one({"_id": meeting_id})

    async def swap_state(self, meeting_id: str, seq: int,
                         state: dict[str, Any]) -> dict[str, Any] | None:
        """Write `state` if the decision is still number `seq`; None if it moved on."""
        # `None` also matches a meeting never recorded, which has no `recording_seq` yet.
        doc = await self._meetings.find_one_and_update(
            {"_id": meeting_id, "recording_seq": seq or None},
            {"$set": {"recording": state, "recording_seq": seq + 1}},
            return_document=ReturnDocument.AFTER)
        return doc

    async def insert_file(self, doc: dict[str, Any]) -> None:
        await self._files.insert_one(doc)

    async def update_file(self, file_id: str, changes: dict[str, Any]) -> None:
        await self._files.update_one({"_id": file_id}, {"$set": changes})

    async def delete_file(self, file_id: str) -> None:
        await self._files.delete_one({"_id": file_id})

    async def get_file(self, file_id: str) -> RecordedFile | None:
        doc = await self._files.find_one({"_id": file_id})
        return RecordedFile.from_doc(doc) if doc else None

    async def files_of(self, meeting_id: str) -> list[RecordedFile]:
        docs = [d async for d in self._files.find({"meeting_id": meeting_id})]
        return sorted((RecordedFile.from_doc(d) for d in docs),
                      key=lambda f: (f.started_at, f.id))

    async def upload(self, file_id: str, path: Path) -> int:
        """Copy the file into GridFS under the file's id; its size."""
        stream = self._bucket.open_upload_stream_with_id(file_id, path.name)
        size = 0
        try:
            with path.open("rb") as source:
                while chunk := await asyncio.to_thread(source.read, UPLOAD_CHUNK):
                    size += len(chunk)
                    await stream.write(chunk)
        except BaseException:
            with contextlib.suppress(OperationFailure):  # nx-27017 and a never-written file
                await stream.abort()
            raise
        await stream.close()
        return size

    async def download(self, file_id: str) -> AsyncIterator[bytes]:
        try:
            stream = await self._bucket.open_download_stream(file_id)
        except NoFile as exc:
            raise NotFound(f"no recording {file_id}") from exc

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await stream.readchunk():
                yield chunk

        return chunks()


class RecordingService:
    def __init__(self, store: RecordingStore, meetings: MeetingService, clock: Clock,
                 node_id: str) -> None:
        self._store = store
        self._meetings = meetings
        self._clock = clock
        self._node_id = node_id
        self._inserts: dict[str, asyncio.Task[None]] = {}  # file id -> its record's insert
        self._tasks: set[asyncio.Task[None]] = set()

    # hosts' decisions -------------------------------------------------------------------------

    async def set_recording(self, meeting_id: str, user_id: str,
                            on: bool) -> tuple[Meeting, RecordingState, bool]:
        """Start or stop; the meeting, the state now, and whether this call changed it."""
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host can start or stop the recording")
        for _ in range(ATTEMPTS):
            doc = await self._store.meeting_doc(meeting_id)
            if doc is None:
                raise NotFound(f"no meeting {meeting_id}")
            current = RecordingState.from_doc(doc)
            if on and doc.get("status") in OVER:
                raise Gone("the meeting is over")
            # Stored rather than effective: stopping an ended meeting's recording clears it.
            if bool((doc.get("recording") or {}).get("on")) == on:
                return meeting, current, False
            now = iso(self._clock.now())
            state = {"on": on, "by": user_id,
                     "id": f"rec_{secrets.token_hex(6)}" if on else current.recording_id,
                     "since": now if on else current.since}
            swapped = await self._store.swap_state(meeting_id, current.seq, state)
            if swapped is not None:
                return Meeting.from_doc(swapped), RecordingState.from_doc(swapped), True
        raise Conflict("the recording kept changing under this request; try again")

    async def state(self, meeting_id: str, user_id: str) -> RecordingState:
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_member(user_id):
            raise Forbidden("not invited to this meeting")
        doc = await self._store.meeting_doc(meeting_id)
        if doc is None:
            raise NotFound(f"no meeting {meeting_id}")
        return RecordingState.from_doc(doc)

    async def decision(self, meeting_id: str) -> dict[str, Any] | None:
        """For the media node, when a meeting's media starts there."""
        doc = await self._store.meeting_doc(meeting_id)
        return RecordingState.from_doc(doc).decision() if doc else None

    # files ------------------------------------------------------------------------------------

    async def files(self, meeting_id: str, user_id: str) -> list[RecordedFile]:
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_member(user_id):
            raise Forbidden("not invited to this meeting")
        return await self._store.files_of(meeting_id)

    async def open(self, meeting_id: str, file_id: str,
                   user_id: str) -> tuple[RecordedFile, AsyncIterator[bytes]]:
        meeting = await self._meetings.get(meeting_id)
        recorded = await self._store.get_file(file_id)
        if recorded is None or recorded.meeting_id != meeting_id:
            raise NotFound(f"no recording {file_id} in meeting {meeting_id}")
        if not meeting.is_member(user_id):
            raise Forbidden("not invited to this meeting")
        if recorded.status != READY:
            raise Conflict(f"recording {file_id} is {recorded.status}, not ready yet",
                           {"status": recorded.status})
        return recorded, await self._store.download(file_id)

    # reports of the media node (media/recorder.py RecordingCatalogue) ---------------------------

    def file_opened(self, info: FileReport) -> None:
        task = asyncio.ensure_future(self._insert(info))
        self._inserts[info.file_id] = task
        self._track(task)

    def file_closed(self, info: FileReport) -> None:
        self._track(asyncio.ensure_future(self._finish(info)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _insert(self, info: FileReport) -> None:
        try:
            await self._store.insert_file({
                "_id": info.file_id, "meeting_id": info.meeting_id,
                "recording_id": info.recording_id, "user_id": info.user_id,
                "session_id": info.session_id, "node_id": self._node_id,
                "path": str(info.path), "started_at": _iso_epoch(info.started_at),
                "ended_at": None, "duration": None, "size": None,
                "tracks": [t.to_doc() for t in info.tracks], "status": RECORDING})
        except Exception:
            log.exception("recording %s: its record could not be stored", info.file_id)

    async def _finish(self, info: FileReport) -> None:
        """The file is closed: copy it into GridFS (off the live path: this node's loop
        awaits the database, the file is read in a worker thread), then mark it ready."""
        inserted = self._inserts.pop(info.file_id, None)
        if inserted is not None:
            await inserted
        try:
            if info.empty and not info.failed:
                await self._store.delete_file(info.file_id)  # nothing came to record
                with contextlib.suppress(OSError):
                    info.path.unlink(missing_ok=True)
                return
            fields: dict[str, Any] = {
                "started_at": _iso_epoch(info.started_at),
                "ended_at": _iso_epoch(info.ended_at), "duration": info.duration,
                "size": info.size, "tracks": [t.to_doc() for t in info.tracks],
                "frames": info.frames, "dropped_packets": info.dropped_packets,
                "lost_frames": info.lost_frames}
            if info.failed:
                await self._store.update_file(info.file_id, {**fields, "status": FAILED})
                return
            size = await self._store.upload(info.file_id, info.path)
            await self._store.update_file(info.file_id,
                                          {**fields, "size": size, "status": READY})
        except Exception:
            log.exception("recording %s could not be stored", info.file_id)
            with contextlib.suppress(Exception):
                await self._store.update_file(info.file_id, {"status": FAILED})

    async def stop(self) -> None:
        """Let the copies of closed files finish (the node is shutting down), a while."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=STOP_WAIT)
