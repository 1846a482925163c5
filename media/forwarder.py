"""RTP forwarding: a published track's packets go to each subscriber as they arrive, rewritten
for that subscriber, without decoding, encoding or reassembling a frame.

- `PublishedTrack`: one track a participant sends; every packet fans out to its subscriptions.
- `Subscription`: that track towards one subscriber; numbering continuous across pauses,
  waits for a keyframe to start or resume video, keeps the sent packets for NACKs and the
  publisher's clock mapping for sender reports.
- `Outbox`: one per subscriber connection; a bounded queue drained by one task. A subscriber
  that cannot keep up loses its queue and resumes at the next keyframe; nobody else waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
    wrap_rtx,
)

from media.aiortc_bridge import ForwardingReceiver, ForwardingSender
from media.keyframes import KeyframeThrottle, is_keyframe_start
from media.rtp_rewrite import SEQ_MOD, StreamRewriter

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 600         # packets queued for one subscriber (about 2 s of 1.5 Mbit/s video)
HISTORY_SIZE = 1024        # sent packets kept per subscription to answer NACKs
SENDER_REPORT_EVERY = 1.0  # seconds
NTP_UNITS = 1 << 32


@dataclass
class ForwardingStats:
    """Counters of one node's forwarding; `/metrics` exposes them."""

    packets_in: int = 0
    packets_out: int = 0
    retransmitted: int = 0
    keyframe_requests: int = 0
    dropped_slow: int = 0
    # The SFU never decodes or encodes; the counters exist so that a regression shows.
    frames_decoded: int = 0
    frames_encoded: int = 0


class PublishedTrack:
    def __init__(self, key: str, kind: str, source: str, codec: RTCRtpCodecParameters,
                 receiver: ForwardingReceiver,
                 stats: ForwardingStats, keyframe_interval: float,
                 on_audio_level: Callable[[int], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.key = key
        self.kind = kind
        self.source = source
        self.receiver = receiver
        self.codec = codec  # as negotiated with the publisher
        self.media_ssrc: int | None = None
        self.subscriptions: list[Subscription] = []
        self.sender_report: tuple[int, int, float] | None = None  # (ntp, rtp, arrived)
        self._stats = stats
        self._on_audio_level = on_audio_level
        self._throttle = KeyframeThrottle(keyframe_interval, time.monotonic,
                                          lambda delay, fn: loop.call_later(delay, fn))
        self._tasks: set[asyncio.Task[None]] = set()
        receiver.sink = self._on_packet
        receiver.on_sender_report = self._on_sender_report

    def _on_packet(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        self._stats.packets_in += 1
        self.media_ssrc = packet.ssrc
        level = packet.extensions.audio_level
        if level is not None and self._on_audio_level is not None:
            self._on_audio_level(level[1])
        keyframe = self.kind == "video" and is_keyframe_start(codec.mimeType, packet.payload)
        for subscription in self.subscriptions:
            subscription.offer(packet, keyframe)

    def _on_sender_report(self, report: RtcpSrPacket) -> None:
        if report.ssrc == self.media_ssrc or self.media_ssrc is None:
            info = report.sender_info
            self.sender_report = (info.ntp_timestamp, info.rtp_timestamp, time.time())

    def request_keyframe(self) -> None:
        if self.kind != "video":
            return
        self._throttle.request(self._send_keyframe_request)

    def _send_keyframe_request(self) -> None:
        if self.media_ssrc is None:
            return
        self._stats.keyframe_requests += 1
        task = asyncio.ensure_future(self.receiver.request_keyframe(self.media_ssrc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def detach_all(self) -> None:
        for subscription in list(self.subscriptions):
            subscription.close()


class Subscription:
    def __init__(self, track: PublishedTrack, sender: ForwardingSender, outbox: Outbox) -> None:
        self.track = track
        self.sender = sender
        self.outbox = outbox
        self.paused = False
        self.waiting_keyframe = track.kind == "video"
        self.packets_sent = 0
        self.octets_sent = 0
        self._rewriter = StreamRewriter(sender.clock_rate)
        self._history: list[RtpPacket | None] = [None] * HISTORY_SIZE
        self._rtx_seq = 0
        sender.on_rtcp = self._on_rtcp
        # A new subscriber's first picture is a keyframe asked for once its sender runs.
        sender.on_started = track.request_keyframe
        track.subscriptions.append(self)
        outbox.subscriptions.append(self)
        if sender.started:
            track.request_keyframe()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.restart()

    def restart(self) -> None:
        """Continue from a new point of the source: video waits for a keyframe."""
        self._rewriter.restart()
        if self.track.kind == "video":
            self.waiting_keyframe = True
            self.track.request_keyframe()

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.track.subscriptions.remove(self)
        with contextlib.suppress(ValueError):
            self.outbox.subscriptions.remove(self)
        self.sender.on_rtcp = None

    # live path -----------------------------------------------------------------------------

    def offer(self, packet: RtpPacket, keyframe: bool) -> None:
        if self.paused or not self.sender.started:
            return
        if self.waiting_keyframe and not keyframe:
            return
        self.outbox.push(self, packet, keyframe)

    def render(self, packet: RtpPacket, keyframe: bool, now: float) -> bytes | None:
        """The packet as this subscriber gets it, or None when it is left out. Numbering
        decisions happen here, in sending order, never while the packet waits in the queue."""
        if self.waiting_keyframe:
            if not keyframe:
                return None
            self.waiting_keyframe = False
            self._rewriter.restart()
        if not packet.payload and self._rewriter.skip(packet.sequence_number):
            return None  # padding the publisher sent to probe its own link
        sender = self.sender
        seq, ts = self._rewriter.rewrite(packet.sequence_number, packet.timestamp, now)
        out = RtpPacket(payload_type=sender.payload_type or packet.payload_type,
                        marker=packet.marker, sequence_number=seq, timestamp=ts,
                        ssrc=sender._ssrc, payload=packet.payload)
        out.csrc = packet.csrc
        out.extensions.mid = sender.mid
        out.extensions.audio_level = packet.extensions.audio_level
        out.extensions.abs_send_time = (int(now * (1 << 18)) & 0x00FFFFFF)
        self._history[seq % HISTORY_SIZE] = out
        self.packets_sent += 1
        self.octets_sent += len(packet.payload)
        return sender.serialize(out)

    # feedback from the subscriber ------------------------------------------------------------

    def _on_rtcp(self, packet: object) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._retransmit(packet.lost)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.track.request_keyframe()

    def _retransmit(self, lost: list[int]) -> None:
        sender = self.sender
        for seq in lost:
            sent = self._history[seq % HISTORY_SIZE]
            if sent is None or sent.sequence_number != seq:
                continue  # older than the history: the subscriber will ask for a keyframe
            if sender.rtx_payload_type is not None:
                self._rtx_seq = (self._rtx_seq + 1) % SEQ_MOD
                sent = wrap_rtx(sent, payload_type=sender.rtx_payload_type,
                                sequence_number=self._rtx_seq, ssrc=sender._rtx_ssrc)
            self.outbox.push_bytes(self, sender.serialize(sent))
            self.outbox.stats.retransmitted += 1

    def sender_report(self, now: float) -> bytes | None:
        """Our SR carries the publisher's clock mapping moved to our timestamps, so a browser
        lines up audio and video of one person as the publisher meant them."""
        source = self.track.sender_report
        if source is None or self.packets_sent == 0:
            return None
        ntp, rtp, arrived = source
        elapsed = max(0.0, now - arrived)
        clock_rate = self.sender.clock_rate
        report = RtcpSrPacket(ssrc=self.sender._ssrc, sender_info=RtcpSenderInfo(
            ntp_timestamp=(ntp + int(elapsed * NTP_UNITS)) % (1 << 64),
            rtp_timestamp=self._rewriter.output_timestamp(rtp + int(elapsed * clock_rate)),
            packet_count=self.packets_sent % (1 << 32),
            octet_count=self.octets_sent % (1 << 32)))
        return bytes(report)


class Outbox:
    def __init__(self, stats: ForwardingStats, limit: int = OUTBOX_LIMIT) -> None:
        self.stats = stats
        self.subscriptions: list[Subscription] = []
        self._queue: deque[tuple[Subscription, RtpPacket | bytes, bool]] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reports: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain())
            self._reports = asyncio.ensure_future(self._report())

    async def close(self) -> None:
        for task in (self._task, self._reports):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._reports = None
        for subscription in list(self.subscriptions):
            subscription.close()

    def push(self, subscription: Subscription, packet: RtpPacket, keyframe: bool) -> None:
        if len(self._queue) >= self._limit:
            self._overflow()
            if subscription.waiting_keyframe and not keyframe:
                return
        self._queue.append((subscription, packet, keyframe))
        self._ready.set()

    def push_bytes(self, subscription: Subscription, data: bytes) -> None:
        if len(self._queue) < self._limit:
            self._queue.append((subscription, data, False))
            self._ready.set()

    def _overflow(self) -> None:
        """This subscriber is not keeping up: drop what waits and restart video at the next
        keyframe rather than deliver it late or grow without bound."""
        self.stats.dropped_slow += len(self._queue)
        self._queue.clear()
        for subscription in self.subscriptions:
            subscription.restart()

    async def _drain(self) -> None:
        queue = self._queue
        while True:
            await self._ready.wait()
            self._ready.clear()
            while queue:
                subscription, item, keyframe = queue.popleft()
                if isinstance(item, bytes):
                    data: bytes | None = item
                else:
                    data = subscription.render(item, keyframe, time.time())
                if data is None:
                    continue
                await subscription.sender.write(data)
                self.stats.packets_out += 1

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(SENDER_REPORT_EVERY)
            now = time.time()
            for subscription in list(self.subscriptions):
                report = subscription.sender_report(now)
                if report is not None:
                    await subscription.sender.write(report)
