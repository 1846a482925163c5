"""A meeting participant for tests: an aiortc peer on loopback that signals through a real
socket, publishes synthetic camera and microphone tracks, and decodes what it receives."""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCSessionDescription, VideoStreamTrack
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import AudioStreamTrack

from core.tasks import cancel_and_wait
from media.aiortc_bridge import HostPinnedPeerConnection
from tests.conftest import Client

SAMPLE_RATE = 48000
PTIME = 0.02


class ToneTrack(AudioStreamTrack):
    """A loud 440 Hz tone, or silence, switchable: a voice for the speaker detector."""

    def __init__(self, loud: bool = True) -> None:
        super().__init__()
        self.loud = loud
        self._samples = int(SAMPLE_RATE * PTIME)
        self._sent = 0

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()  # paces the track and stamps pts
        if self.loud:
            amplitude = 16000
            data = b"".join(struct.pack("<h", int(amplitude * math.sin(
                2 * math.pi * 440 * (self._sent + i) / SAMPLE_RATE)))
                for i in range(self._samples))
            frame.planes[0].update(data)
        self._sent += self._samples
        return frame


class MediaPeer:
    def __init__(self, client: Client, meeting_id: str) -> None:
        self.client = client
        self.meeting_id = meeting_id
        self.pc = HostPinnedPeerConnection(["127.0.0.1"])
        self.frames: dict[str, int] = {}
        self.session_id: str | None = None
        self._seen = 0
        self._tasks: list[asyncio.Task[None]] = []
        # Its own offers and pushed offers one at a time, in order (PROTOCOL §6).
        self._negotiating = asyncio.Lock()
        self.pc.on("track", self._on_track)

    def publish(self, video: bool = True, audio: bool = True,
                audio_track: MediaStreamTrack | None = None) -> None:
        if video:
            self.pc.addTrack(VideoStreamTrack())
        if audio:
            self.pc.addTrack(audio_track or AudioStreamTrack())

    def _on_track(self, track: MediaStreamTrack) -> None:
        async def consume() -> None:
            while True:
                try:
                    await track.recv()
                except Exception:
                    return
                self.frames[track.id] = self.frames.get(track.id, 0) + 1

        self._tasks.append(asyncio.ensure_future(consume()))

    async def join(self, answer_pushed: bool = True) -> dict[str, Any]:
        joined = await self.client.ok("meeting:join", {"meeting_id": self.meeting_id})
        self.session_id = joined["session_id"]
        if answer_pushed:
            self.answer_pushed_offers()
        return joined

    def answer_pushed_offers(self) -> None:
        self._seen = len(self.client.pushes)
        self._tasks.append(asyncio.ensure_future(self._answer_pushed_offers()))

    async def offer(self) -> dict[str, Any]:
        async with self._negotiating:
            await self.pc.setLocalDescription(await self.pc.createOffer())
            reply = await self.client.ok("rtc:offer", {"meeting_id": self.meeting_id,
                                                       "sdp": self.pc.localDescription.sdp})
            await self.pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
            self.session_id = reply["session_id"]
        return reply

    async def _answer_pushed_offers(self) -> None:
        while True:
            pushes = self.client.pushes
            while self._seen < len(pushes):
                name, data = pushes[self._seen]
                self._seen += 1
                if name == "rtc:offer" and data["meeting_id"] == self.meeting_id:
                    async with self._negotiating:
                        await self._answer(data["sdp"])
            await self.client.wait_for("rtc:offer", lambda _: self._seen < len(
                self.client.pushes), timeout=3600)

    async def _answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.client.ok("rtc:answer", {"meeting_id": self.meeting_id,
                                            "sdp": self.pc.localDescription.sdp})

    def remote_stream_ids(self) -> set[str]:
        remote = self.pc.remoteDescription
        if remote is None:
            return set()
        parsed = aiortc_sdp.SessionDescription.parse(remote.sdp)
        return {m.msid.split(" ")[0] for m in parsed.media
                if m.msid and m.direction in ("sendonly", "sendrecv")}

    def receiver_of(self, stream_id: str, kind: str) -> Any:
        """The aiortc receiver of the track `stream_id` sends us, and the SSRC it arrives on."""
        remote = self.pc.remoteDescription
        parsed = aiortc_sdp.SessionDescription.parse(remote.sdp)
        for media in parsed.media:
            if media.kind == kind and media.msid and media.msid.startswith(stream_id + " "):
                transceiver = next(t for t in self.pc.getTransceivers()
                                   if t.mid == media.rtp.muxId)
                return transceiver.receiver, media.ssrc[0].ssrc
        raise AssertionError(f"no {kind} track of {stream_id}")

    def video_frames_from(self, session_id: str) -> int:
        return self.frames.get(f"{session_id}.0", 0)

    def audio_frames_from(self, session_id: str) -> int:
        return self.frames.get(f"{session_id}.1", 0)

    async def hear(self, session_id: str, frames: int) -> None:
        """Wait until `frames` more audio frames (20 ms each) came from `session_id`: a
        measure of time passing with media flowing, for checks that something did not."""
        target = self.audio_frames_from(session_id) + frames
        async with asyncio.timeout(10 + frames * 0.02 * 3):
            while self.audio_frames_from(session_id) < target:
                await asyncio.sleep(0.02)

    async def frames_of(self, kind_count: int, at_least: int, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while sum(1 for n in self.frames.values() if n >= at_least) < kind_count:
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(Exception):  # a consumer's own failure ends it too
                await cancel_and_wait(task)
        await self.pc.close()

