"""Meeting recording on the media node: each publishing device's forwarded RTP, remuxed into
one Matroska file per device without decoding or encoding anything (PROTOCOL §6,
Recording).

Split between the event loop and one writer thread per recorded meeting:
- On the live path a tap on each published track copies what it needs of every packet
  (sequence number, timestamp, marker, payload, arrival time) into the device's bounded
  queue: a length check and an append, no await, no lock. When the writer falls behind the
  queue is full and packets are dropped and counted; a video track then waits for its next
  keyframe (the writer asks the publisher for one). The forwarding never waits for the
  recording.
- The writer thread depacketises (media/depacketize.py) and muxes with PyAV. Two cores
  cannot decode every track, and nothing here does: the only PyAV work is writing packets.

One file per device: its microphone, its camera and its shared screen, each one stream.
A device that starts or stops publishing a track starts a new file (a Matroska header
lists its streams once). Joining mid-recording starts a file, leaving closes it, stopping
the recording or ending the meeting closes them all.

Audio and video of a device share one timeline: each track's RTP timestamps are mapped to
wall-clock time through the publisher's RTCP sender reports (NTP <-> RTP of that track),
when every track of the file has had one; otherwise through the arrival time of each
track's first frame (good to the network jitter). The file starts at the camera's first
keyframe; earlier audio is left out, so the streams start together.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import av
from aiortc.rtp import RtpPacket

from media.depacketize import (
    TS_MOD,
    Frame,
    OpusDepacketizer,
    RtpIn,
    SequenceUnwrapper,
    Vp8Depacketizer,
    vp8_size,
)
from media.forwarder import PublishedTrack

if TYPE_CHECKING:
    from media.sfu import MeetingMedia, Participant

log = logging.getLogger(__name__)

QUEUE_LIMIT = 3000       # packets waiting per device (about 5 s of 2 Mbit/s video and audio)
POLL = 0.02              # seconds the writer sleeps when every queue is empty
OPEN_WAIT = 5.0          # seconds to wait for every track's first (key)frame before writing
KEYFRAME_ASK_EVERY = 1.0
TIME_BASE = Fraction(1, 1000)
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
CLOSED = 1 << 62         # the decision number of a meeting's media that is gone
# mime type -> the PyAV codec name of what the recorder can remux
RECORDABLE = {"video/vp8": "vp8", "audio/opus": "opus"}


@dataclass(frozen=True)
class TrackInfo:
    kind: str
    source: str
    codec: str

    def to_doc(self) -> dict[str, str]:
        return {"kind": self.kind, "source": self.source, "codec": self.codec}


@dataclass(frozen=True)
class FileInfo:
    """One recorded file, as the catalogue (meetings/recordings.py) is told of it."""

    file_id: str
    meeting_id: str
    recording_id: str
    user_id: str
    session_id: str
    path: Path
    started_at: float
    tracks: tuple[TrackInfo, ...]
    ended_at: float | None = None
    duration: float | None = None
    size: int | None = None
    frames: dict[str, int] = field(default_factory=dict)  # per source
    dropped_packets: int = 0
    lost_frames: int = 0
    failed: bool = False

    @property
    def empty(self) -> bool:
        return not self.size or not any(self.frames.values())


class RecordingCatalogue(Protocol):
    """Where the media node reads a meeting's recording decision and reports its files."""

    async def decision(self, meeting_id: str) -> dict[str, Any] | None: ...

    def file_opened(self, info: FileInfo) -> None: ...

    def file_closed(self, info: FileInfo) -> None: ...


class Recorders:
    """This node's recording: applies the hosts' decisions to the meetings placed here."""

    def __init__(self, directory: Path, catalogue: RecordingCatalogue) -> None:
        self.directory = directory
        self.catalogue = catalogue
        self._tasks: set[asyncio.Task[None]] = set()

    def media_created(self, media: MeetingMedia) -> None:
        """A meeting's media starts here (first join, everyone left and came back, or moved
        from a dead node): if the record says it is being recorded, record it here."""
        task = asyncio.ensure_future(self._resume(media))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resume(self, media: MeetingMedia) -> None:
        try:
            decision = await self.catalogue.decision(media.meeting_id)
            if decision is not None:
                await self.apply(media, decision)
        except Exception:
            log.exception("resuming the recording of %s failed", media.meeting_id)

    async def apply(self, media: MeetingMedia, decision: dict[str, Any]) -> None:
        """Start or stop as `decision` says, unless a newer one (by `seq`, the number of the
        meeting record's recording change) came first: the lookup at media creation and a
        host's request may arrive in either order."""
        seq = int(decision["seq"])
        if seq <= media.recording_seq:
            return
        media.recording_seq = seq
        current = media.recording
        if decision["on"]:
            if current is not None and current.recording_id == decision["recording_id"]:
                return
            if current is not None:
                await current.stop()
            recording = MeetingRecording(media.meeting_id, str(decision["recording_id"]),
                                         self.directory / media.meeting_id, self.catalogue)
            media.recording = recording
            recording.start(media.participants.values())
        elif current is not None:
            media.recording = None
            await current.stop()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


async def stop_recording(media: MeetingMedia) -> None:
    """The meeting's media here is closing: close its files, and refuse later decisions."""
    media.recording_seq = CLOSED
    recording, media.recording = media.recording, None
    if recording is not None:
        await recording.stop()


class MeetingRecording:
    """One meeting's recording on this node: a file per publishing device, one writer
    thread for all of them."""

    def __init__(self, meeting_id: str, recording_id: str, directory: Path,
                 catalogue: RecordingCatalogue) -> None:
        self.meeting_id = meeting_id
        self.recording_id = recording_id
        self._directory = directory
        self._catalogue = catalogue
        self._loop = asyncio.get_running_loop()
        self.files: dict[str, SessionFile] = {}  # session id -> its open file
        self._lock = threading.Lock()
        self._active: list[SessionFile] = []  # what the writer works on, closing ones too
        self._stopping = False
        self._wake = threading.Event()  # a stop need not wait out the writer's idle poll
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"recorder-{meeting_id}")
        self._warned: set[str] = set()

    def start(self, participants: Iterable[Participant]) -> None:
        for participant in participants:
            self.sync(participant)
        self._thread.start()

    def sync(self, participant: Participant) -> None:
        """Record what `participant` publishes now: a new file if that changed."""
        tracks = [t for t in participant.published.values() if self._recordable(t)]
        current = self.files.get(participant.session_id)
        if current is not None and current.keys == tuple(t.key for t in tracks):
            return
        if current is not None:
            self._close(current)
        if not tracks or self._stopping:
            return
        info = FileInfo(
            file_id=f"rf_{secrets.token_hex(8)}", meeting_id=self.meeting_id,
            recording_id=self.recording_id, user_id=participant.user_id,
            session_id=participant.session_id, path=Path(), started_at=time.time(),
            tracks=tuple(TrackInfo(t.kind, t.source, RECORDABLE[t.codec.mimeType.lower()])
                         for t in tracks))
        info = replace(info, path=self._directory / f"{info.file_id}.mkv")
        session_file = SessionFile(info, tracks, self._loop)
        self.files[participant.session_id] = session_file
        with self._lock:
            self._active.append(session_file)
        session_file.attach()
        self._catalogue.file_opened(info)

    def session_left(self, session_id: str) -> None:
        session_file = self.files.get(session_id)
        if session_file is not None:
            self._close(session_file)

    def _close(self, session_file: SessionFile) -> None:
        self.files.pop(session_file.info.session_id, None)
        session_file.detach()  # no packet reaches its queue after this...
        session_file.closing = True  # ...so the writer drains it and closes the file

    async def stop(self) -> None:
        for session_file in list(self.files.values()):
            self._close(session_file)
        with self._lock:
            self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            await asyncio.shield(self._done)

    def _recordable(self, track: PublishedTrack) -> bool:
        mime = track.codec.mimeType.lower()
        if mime in RECORDABLE:
            return True
        if track.key not in self._warned:
            self._warned.add(track.key)
            log.warning("recording of %s leaves out track %s: %s is not recorded",
                        self.meeting_id, track.key, mime)
        return False

    # the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    active, stopping = list(self._active), self._stopping
                busy = False
                for session_file in active:
                    try:
                        busy = session_file.drain() or busy
                        if not session_file.closing:
                            continue
                        info = session_file.finish()
                    except Exception:
                        log.exception("recording %s failed", session_file.info.path)
                        info = session_file.abandon()
                    with self._lock:
                        self._active.remove(session_file)
                    self._report(self._catalogue.file_closed, info)
                if stopping and not active:
                    return
                if not busy:
                    self._wake.wait(POLL)
        finally:
            self._report(self._finished)

    def _finished(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def _report(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the node is shutting down
            self._loop.call_soon_threadsafe(fn, *args)


class _Track:
    """One published track inside one file, on the writer's side."""

    def __init__(self, published: PublishedTrack) -> None:
        self.published = published
        self.kind = published.kind
        self.source = published.source
        self.clock_rate = published.codec.clockRate
        self.depacketizer: Vp8Depacketizer | OpusDepacketizer = (
            Vp8Depacketizer() if self.kind == "video" else OpusDepacketizer())
        self.unwrap = SequenceUnwrapper(TS_MOD)
        self.pending: list[tuple[int, Frame]] = []  # before the file is opened
        self.anchor: tuple[int, float] | None = None  # (extended RTP ts, wall-clock seconds)
        self.stream: Any = None
        self.last_pts = -1
        self.frames = 0
        self.needs_keyframe = self.kind == "video"
        self.asked_at = 0.0

    def wall(self, ext_ts: int) -> float:
        assert self.anchor is not None
        anchor_ts, anchor_wall = self.anchor
        return anchor_wall + (ext_ts - anchor_ts) / self.clock_rate


class SessionFile:
    """One device's file: filled by taps on the event loop, written by the writer thread."""

    def __init__(self, info: FileInfo, tracks: list[PublishedTrack],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.info = info
        self.keys = tuple(t.key for t in tracks)
        self.closing = False
        self.dropped_packets = 0
        self._tracks = [_Track(t) for t in tracks]
        self._queue: deque[tuple[int, int, int, int, bytes, float]] = deque()
        self._taps: list[tuple[PublishedTrack, Callable[[RtpPacket], None]]] = []
        self._loop = loop
        self._container: Any = None
        self._origin: float | None = None
        self._opened_at = 0.0
        self._created = time.monotonic()

    # event loop side ------------------------------------------------------------------------


    def frames_written(self, kind: str) -> int:
        """How many frames of `kind` the file holds so far (the writer thread counts them;
        an int is read whole from the event loop)."""
        return sum(t.frames for t in self._tracks if t.kind == kind)
    def attach(self) -> None:
        for index, track in enumerate(self._tracks):
            tap = self._tap(index)
            track.published.tap = tap
            self._taps.append((track.published, tap))
            track.published.request_keyframe()  # the file starts at the next keyframe

    def detach(self) -> None:
        for published, tap in self._taps:
            if published.tap is tap:
                published.tap = None
        self._taps.clear()

    def _tap(self, index: int) -> Callable[[RtpPacket], None]:
        queue = self._queue

        def tap(packet: RtpPacket) -> None:
            # The live path: no await, no lock (deque appends are atomic).
            if len(queue) >= QUEUE_LIMIT:
                self.dropped_packets += 1
                return
            queue.append((index, packet.sequence_number, packet.timestamp, packet.marker,
                          packet.payload, time.time()))

        return tap

    # writer thread side ---------------------------------------------------------------------

    def drain(self) -> bool:
        """Depacketise and write what waits; whether there was anything."""
        queue = self._queue
        busy = bool(queue)
        while queue:
            index, seq, timestamp, marker, payload, arrival = queue.popleft()
            track = self._tracks[index]
            for frame in track.depacketizer.push(RtpIn(seq, timestamp, bool(marker), payload,
                                                       arrival)):
                self._accept(track, frame)
            if track.depacketizer.waiting_keyframe:
                self._ask_keyframe(track)
        if self._container is None:
            self._maybe_open()
        return busy

    def _accept(self, track: _Track, frame: Frame) -> None:
        ext_ts = track.unwrap(frame.timestamp)
        if self._container is None:
            track.pending.append((ext_ts, frame))
        elif track.stream is not None:
            self._write(track, ext_ts, frame)

    def _ask_keyframe(self, track: _Track) -> None:
        now = time.monotonic()
        if now - track.asked_at >= KEYFRAME_ASK_EVERY:
            track.asked_at = now
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(track.published.request_keyframe)

    def _maybe_open(self) -> None:
        ready = [t for t in self._tracks if t.pending]
        waited = time.monotonic() - self._created >= OPEN_WAIT
        if not ready or (len(ready) < len(self._tracks) and not waited):
            return
        self._anchor(ready)
        videos = [t for t in ready if t.kind == "video"]
        first = videos[0] if videos else min(ready, key=lambda t: t.wall(t.pending[0][0]))
        self._origin = first.wall(first.pending[0][0])
        path = self.info.path
        path.parent.mkdir(parents=True, exist_ok=True)
        container: Any = av.open(str(path), "w", format="matroska")
        self._container = container
        container.metadata["title"] = f"{self.info.meeting_id} {self.info.user_id}"
        for track in ready:
            track.stream = self._add_stream(container, track)
            track.stream.metadata["title"] = track.source
        for track in self._tracks:
            if track.stream is None:
                log.warning("%s: track %s sent nothing to record within %.0f s; left out",
                            path, track.source, OPEN_WAIT)
        self._opened_at = time.time()
        for track in ready:
            for ext_ts, frame in track.pending:
                self._write(track, ext_ts, frame)
            track.pending.clear()

    def _anchor(self, ready: list[_Track]) -> None:
        """Each track's RTP clock onto one wall clock: the publisher's own (sender reports)
        when every track has one, else our arrival times; never a mix of the two."""
        reports = [t.published.sender_report for t in ready]
        for track, report in zip(ready, reports, strict=True):
            first_ts, first = track.pending[0]
            if all(r is not None for r in reports):
                assert report is not None
                ntp, rtp, _arrived = report
                ntp_seconds = (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / (1 << 32)
                offset = ((first.timestamp - rtp + TS_MOD // 2) % TS_MOD) - TS_MOD // 2
                track.anchor = (first_ts, ntp_seconds + offset / track.clock_rate)
            else:
                track.anchor = (first_ts, first.arrival)

    def _add_stream(self, container: Any, track: _Track) -> Any:
        if track.kind == "video":
            keyframe = track.pending[0][1].data
            width, height = vp8_size(keyframe)
            stream = container.add_mux_stream("vp8", width=width, height=height)
        else:
            with _opus_template() as template:
                stream = container.add_stream_from_template(template.streams.audio[0])
        stream.time_base = TIME_BASE
        return stream

    def _write(self, track: _Track, ext_ts: int, frame: Frame) -> None:
        assert self._origin is not None
        pts = round((track.wall(ext_ts) - self._origin) * 1000)
        if track.needs_keyframe:
            if pts < 0 or not frame.keyframe:
                return  # a video track starts at a keyframe inside the file
            track.needs_keyframe = False
        if pts < 0:
            return  # audio from before the picture starts
        if pts <= track.last_pts:
            if track.kind == "audio":
                return
            pts = track.last_pts + 1
        packet = av.Packet(frame.data)
        packet.stream = track.stream
        packet.pts = packet.dts = pts
        packet.time_base = TIME_BASE
        packet.is_keyframe = frame.keyframe
        self._container.mux(packet)
        track.last_pts = pts
        track.frames += 1

    def finish(self) -> FileInfo:
        self.drain()
        size = duration = None
        if self._container is not None:
            self._container.close()
            size = self.info.path.stat().st_size
            ends = [t.last_pts for t in self._tracks if t.frames]
            duration = (max(ends) / 1000) if ends else 0.0
        return self._summary(size, duration, failed=False)

    def abandon(self) -> FileInfo:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        return self._summary(None, None, failed=True)

    def _summary(self, size: int | None, duration: float | None, failed: bool) -> FileInfo:
        tracks = tuple(TrackInfo(t.kind, t.source, RECORDABLE.get(
            t.published.codec.mimeType.lower(), "")) for t in self._tracks
            if t.stream is not None)
        return replace(
            self.info, started_at=self._opened_at or self.info.started_at, tracks=tracks,
            ended_at=time.time(), duration=duration, size=size,
            frames={t.source: t.frames for t in self._tracks},
            dropped_packets=self.dropped_packets,
            lost_frames=sum(t.depacketizer.lost_frames for t in self._tracks), failed=failed)


# Opus codec private data for Matroska -----------------------------------------------------------

def _opus_template() -> Any:
    """A container holding an Opus stream to copy into each file. Matroska wants the Opus
    identification header (OpusHead) as codec private data, and PyAV sets codec private data
    only by copying a stream that has it; its Ogg demuxer reads one out of three tiny pages
    built here.
    (Opening an Opus encoder would produce one too, with the encoder's pre-skip, which these
    packets, encoded by the publisher, do not have.)"""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 0, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 7) + b"xietong" + struct.pack("<I", 0)
    silence = b"\xfc\xff\xfe"  # one 20 ms frame: the demuxer wants to see a packet
    data = (_ogg_page(head, 0, 0x02, 0) + _ogg_page(tags, 1, 0, 0)
            + _ogg_page(silence, 2, 0x04, 960))
    return av.open(io.BytesIO(data), format="ogg")


def _ogg_page(packet: bytes, sequence: int, flags: int, granule: int) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = struct.pack("<4sBBqIII", b"OggS", 0, flags, granule, 1, sequence, 0)
    header += bytes([len(lacing), *lacing])
    checksum = _ogg_crc(header + packet)
    return header[:22] + struct.pack("<I", checksum) + header[26:] + packet


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc
