"""RTP forwarding: a published track's packets go to each subscriber as they arrive, rewritten
for that subscriber, without decoding, encoding or reassembling a frame.

- `PublishedTrack`: one track a participant sends; every packet fans out to its subscriptions.
- `Subscription`: that track towards one subscriber; numbering continuous across pauses,
  waits for a keyframe to start or resume video, keeps the sent packets for NACKs and the
  publisher's clock mapping for sender reports.
- `Outbox`: one per subscriber connection. A packet is sent the moment it arrives; only when
  the subscriber's socket is backed up does it wait, in a bounded queue drained by one task.
  A subscriber that cannot keep up loses its queue and resumes at the next keyframe; nobody
  else waits."""

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
)

from media.aiortc_bridge import ForwardingReceiver, ForwardingSender
from media.keyframes import KeyframeThrottle, is_keyframe_start
from media.rtp_rewrite import SEQ_MOD, StreamRewriter
from media.rtp_writer import sequence_number

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 600         # packets queued for one subscriber (about 2 s of 1.5 Mbit/s video)
HISTORY_SIZE = 1024        # sent packets kept per subscription to answer NACKs
BACKLOG_POLL = 0.005       # seconds between looks at a backed-up socket
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


def abs_send_time(now: float) -> int:
    """The abs-send-time header extension: 6.18 fixed-point seconds, 24 bits."""
    return int(now * (1 << 18)) & 0xFFFFFF


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
        self.silenced = False  # a host muted this publisher: nothing goes out, nobody hears
        # A recording's copy of each packet (media/recorder.py); it must never block.
        self.tap: Callable[[RtpPacket], None] | None = None
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
        if self.silenced:
            return
        if self.tap is not None:
            self.tap(packet)
        level = packet.extensions.audio_level
        if level is not None and self._on_audio_level is not None:
            self._on_audio_level(level[1])
        keyframe = self.kind == "video" and is_keyframe_start(codec.mimeType, packet.payload)
        now = time.time()
        send_time = abs_send_time(now)
        for subscription in self.subscriptions:
            subscription.offer(packet, keyframe, now, send_time)

    def _on_sender_report(self, report: RtcpSrPacket) -> None:
        if report.ssrc == self.media_ssrc or self.media_ssrc is None:
            info = report.sender_info
            self.sender_report = (info.ntp_timestamp, info.rtp_timestamp, time.time())

    def silence(self, silenced: bool) -> None:
        if silenced == self.silenced:
            return
        self.silenced = silenced
        if not silenced:
            # Numbering goes on from where it stopped, without a gap for the silence.
            for subscription in self.subscriptions:
                subscription.restart()

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
        # Sent packets as bytes: the collector never has to look at them.
        self._history: list[bytes | None] = [None] * HISTORY_SIZE
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

    def offer(self, packet: RtpPacket, keyframe: bool, now: float, send_time: int) -> None:
        if self.paused or not self.sender.started:
            return
        self.outbox.push(self, packet, keyframe, now, send_time)

    def admit(self, keyframe: bool) -> bool | None:
        """Whether a packet, in arrival order, goes to this subscriber: None if not (video
        waits for a keyframe), True if it starts a new run, False if it continues one."""
        if not self.waiting_keyframe:
            return False
        if not keyframe:
            return None
        self.waiting_keyframe = False
        return True

    def render(self, packet: RtpPacket, starts_run: bool, now: float,
               send_time: int) -> bytes | None:
        """The packet as this subscriber gets it, or None when it is left out. Numbering
        decisions happen here, in sending order, never while the packet waits in the queue."""
        if starts_run:
            self._rewriter.restart()
        if not packet.payload and self._rewriter.skip(packet.sequence_number):
            return None  # padding the publisher sent to probe its own link
        writer = self.sender.writer
        if writer is None:
            return None
        seq, ts = self._rewriter.rewrite(packet.sequence_number, packet.timestamp, now)
        payload = packet.payload
        data = writer.packet(marker=packet.marker, sequence_number=seq, timestamp=ts,
                             payload=payload, abs_send_time=send_time,
                             audio_level=packet.extensions.audio_level, csrc=packet.csrc)
        self._history[seq % HISTORY_SIZE] = data
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return data

    # feedback from the subscriber ------------------------------------------------------------

    def _on_rtcp(self, packet: object) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._retransmit(packet.lost)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.track.request_keyframe()

    def _retransmit(self, lost: list[int]) -> None:
        writer = self.sender.writer
        if writer is None:
            return
        send_time = abs_send_time(time.time())
        for seq in lost:
            sent = self._history[seq % HISTORY_SIZE]
            if sent is None or sequence_number(sent) != seq:
                continue  # older than the history: the subscriber will ask for a keyframe
            if writer.rtx_payload_type is not None:
                self._rtx_seq = (self._rtx_seq + 1) % SEQ_MOD
                sent = writer.rtx(sent, self._rtx_seq, send_time)
            self.outbox.push_bytes(self, sent)
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

    def push(self, subscription: Subscription, packet: RtpPacket, keyframe: bool,
             now: float, send_time: int) -> None:
        route = subscription.sender.route()
        if route is None:
            return  # not connected (yet, or any more)
        if len(self._queue) >= self._limit:
            self._overflow()
        starts_run = subscription.admit(keyframe)
        if starts_run is None:
            return
        if not self._queue and not route.backed_up():
            data = subscription.render(packet, starts_run, now, send_time)
            if data is not None:
                route.send(data)
                self.stats.packets_out += 1
            return
        self._queue.append((subscription, packet, starts_run))
        self._ready.set()

    def push_bytes(self, subscription: Subscription, data: bytes) -> None:
        route = subscription.sender.route()
        if route is None:
            return
        if not self._queue and not route.backed_up():
            route.send(data)
            self.stats.packets_out += 1
        elif len(self._queue) < self._limit:
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
        """Sends what queued up while the socket was backed up, once it takes packets again."""
        queue = self._queue
        while True:
            await self._ready.wait()
            self._ready.clear()
            while queue:
                subscription, item, starts_run = queue[0]
                route = subscription.sender.route()
                if route is not None and route.backed_up():
                    await asyncio.sleep(BACKLOG_POLL)
                    continue
                queue.popleft()
                if route is None:
                    continue  # the connection went: nothing queued for it can leave
                if isinstance(item, bytes):
                    data: bytes | None = item
                else:
                    now = time.time()
                    data = subscription.render(item, starts_run, now, abs_send_time(now))
                if data is not None:
                    route.send(data)
                    self.stats.packets_out += 1

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(SENDER_REPORT_EVERY)
            now = time.time()
            for subscription in list(self.subscriptions):
                report = subscription.sender_report(now)
                route = subscription.sender.route()
                if report is not None and route is not None:
                    route.send(report)
                    self.stats.packets_out += 1
