"""The media side of the `meeting` benchmark, all in the generator process, on loopback:

- `CounterTrack`: synthetic 640x480 camera video whose frame number is drawn into the picture
  as 16 black-or-white blocks, with the moment each frame left the camera; `pin_bitrate`
  holds its encoder at one bitrate;
- `read_counter`: the number back out of a decoded frame, which gives end-to-end latency;
- `CountingReceiver` peers: subscribers that do not decode (aiortc's receiver always decodes,
  so they use the SFU's forwarding receiver and only count frames as their last packet comes);
- `DecodingProbe`: the one subscriber that decodes, reads the counter and records latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCRtpCodecParameters, RTCRtpSender, VideoStreamTrack
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci

from core.tasks import cancel_and_wait
from media.aiortc_bridge import (
    ForwardingPeerConnection,
    ForwardingReceiver,
    HostPinnedPeerConnection,
)

WIDTH, HEIGHT, FPS = 640, 480, 30
BITRATE = 850_000  # bit/s, as in the research note's measurements
BITS = 16
BLOCK = WIDTH // BITS  # 40 px: survives VP8's quantisation at any bitrate it picks
LOOPBACK = ("127.0.0.1",)


def peer(decoding: bool) -> HostPinnedPeerConnection:
    """A loopback-only peer; a non-decoding one hands received RTP to its receivers' sinks."""
    return HostPinnedPeerConnection(LOOPBACK) if decoding else ForwardingPeerConnection(LOOPBACK)


class CounterTrack(VideoStreamTrack):
    """640x480 at 30 fps: moving texture (so the encoder has real work and a realistic
    bitrate) under a band that carries the frame number."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(7)
        self._texture = rng.integers(40, 200, (HEIGHT * 2, WIDTH), dtype=np.uint8)
        self._chroma = np.full((HEIGHT // 2, WIDTH), 128, dtype=np.uint8)
        self.number = 0
        #: frame number -> perf_counter() when the frame was handed to the encoder
        self.sent_at: dict[int, float] = {}

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        n = self.number
        self.number += 1
        shift = (n * 4) % HEIGHT
        luma = self._texture[shift:shift + HEIGHT].copy()
        for bit in range(BITS):
            luma[:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 235 if (n >> bit) & 1 else 16
        frame = av.VideoFrame.from_ndarray(np.concatenate([luma, self._chroma]),
                                           format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        self.sent_at[n] = time.perf_counter()
        return frame


def read_counter(frame: av.VideoFrame) -> int:
    luma = frame.to_ndarray(format="gray")
    margin = BLOCK // 4
    band = luma[margin:BLOCK - margin]
    n = 0
    for bit in range(BITS):
        if band[:, bit * BLOCK + margin:(bit + 1) * BLOCK - margin].mean() > 128:
            n |= 1 << bit
    return n


def pin_bitrate(sender: RTCRtpSender, bitrate: int = BITRATE) -> None:
    """Hold the encoder behind `sender` at `bitrate`, whatever the receiver estimates.

    aiortc's VP8 encoder follows every REMB and restarts with a keyframe whenever the target
    moves by a tenth; the stream would then grow or shrink from one row of the benchmark to
    the next, and the difference between rows would measure the estimator, not the server.
    Every REMB is read as `bitrate` instead (aiortc gives no other way in)."""
    handle = sender._handle_rtcp_packet

    async def handle_pinned(packet: object) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            packet = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=packet.ssrc,
                                    media_ssrc=packet.media_ssrc,
                                    fci=pack_remb_fci(bitrate, [sender._ssrc]))
        await handle(packet)

    sender._handle_rtcp_packet = handle_pinned  # type: ignore[method-assign]


class FrameCounter:
    """Frames of one non-decoding subscriber, counted on each frame's last packet (marker)."""

    def __init__(self) -> None:
        self.frames = 0
        self.packets = 0

    def __call__(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        self.packets += 1
        if packet.marker and codec.mimeType.startswith("video/"):
            self.frames += 1


def count_received(pc: HostPinnedPeerConnection, counter: FrameCounter) -> None:
    """Point every forwarding receiver of `pc` at `counter` (after each negotiation)."""
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if isinstance(receiver, ForwardingReceiver) and receiver.sink is None:
            receiver.sink = counter


class DecodingProbe:
    """Decodes every video track it receives and records, per frame, how long ago the
    publisher's camera produced it."""

    def __init__(self, sent_at: Callable[[int], float | None]) -> None:
        self._sent_at = sent_at
        self.latencies: list[float] = []  # seconds, in arrival order
        self.numbers: list[int] = []      # the frame number of each of them
        self.latency_of: dict[int, float] = {}  # frame number -> its latency
        self.frames = 0
        self._tasks: list[asyncio.Task[None]] = []

    def attach(self, pc: HostPinnedPeerConnection) -> None:
        pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            now = time.perf_counter()
            self.frames += 1
            number = read_counter(frame)  # type: ignore[arg-type]
            sent = self._sent_at(number)
            # A number misread from a damaged picture names no frame of the last seconds.
            if sent is not None and 0 <= now - sent < 5:
                self.latencies.append(now - sent)
                self.numbers.append(number)
                self.latency_of[number] = now - sent

    async def close(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(Exception):  # a consumer's own failure ends it too
                await cancel_and_wait(task)

