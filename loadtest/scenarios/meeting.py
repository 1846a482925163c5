"""meeting: what one more video subscriber costs the server (issue 6), for Xietong's
forwarding SFU and, in the same run, for a reference relay on aiortc's MediaRelay.

    python -m loadtest meeting [--counts 1,2,4,8,16,32] [--servers xietong,reference]
                               [--warmup 4] [--duration 20] [--out F]

One publisher sends synthetic 640x480 30 fps VP8 (aiortc's encoder) with its frame number
drawn into the picture. For each N of `--counts`, N subscribers that do not decode receive it
(they count frames as each frame's last packet arrives), and one probe subscriber decodes
every frame and reads the number back: the time since that frame left the camera is the
end-to-end latency. The publisher also sends the same frames straight to a second decoding
probe (aiortc to aiortc, no server), so each window compares the two paths under the same
load. Every peer is in the generator; only loopback is used, and no STUN server.

Per N, after `--warmup` seconds: the server's CPU (its process tree, from /proc) per wall
second over `--duration` seconds, frames and packets per second at each subscriber, both
probes' latency percentiles, and the median of what the server adds to a frame (its latency
through the server minus the same frame's over the direct call). The publisher's encoder is
held at one bitrate so that every N sees the same stream. Goals: marginal cost ((CPU at N=8
- CPU at N=1) / 7) <= 0.005 core per subscriber; >= 20x below the reference's; forwarding
adds <= 5 ms to the p99 latency of the direct call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiortc import RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from core.process import free_loopback_port
from loadtest import harness
from loadtest.media_peers import (
    BITRATE,
    CounterTrack,
    DecodingProbe,
    FrameCounter,
    count_received,
    peer,
    pin_bitrate,
)
from loadtest.procs import Child, CpuMeter, spawn, wait_healthy
from loadtest.report import Column, Summary, format_table, write_json
from loadtest.servers import REPO_ROOT, Settings, XietongTarget, expect_ok, request_json
from loadtest.wire import SocketIOClient, parse_event

log = logging.getLogger("loadtest.meeting")
# aioice logs every candidate pair check at INFO.
logging.getLogger("aioice").setLevel(logging.WARNING)

NAME = "meeting"
HELP = "video meeting: server CPU per subscriber and added latency, SFU against MediaRelay"
GOAL_MARGINAL_CORES = 0.005
GOAL_RATIO = 20.0
GOAL_ADDED_P99_MS = 5.0
SERVERS = ("xietong", "reference")
_MS = 1e3
LIVE_WITHIN = 0.25  # seconds: the probe's last LIVE_FRAMES frames this fresh start a window
LIVE_FRAMES = 30
CATCH_UP_TIMEOUT = 20.0


@dataclass(frozen=True)
class Options(harness.CommonOptions):
    counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    servers: tuple[str, ...] = SERVERS
    warmup: float = 4.0
    duration: float = 20.0

    def validate(self) -> None:
        if not self.counts or any(n < 1 for n in self.counts) or \
                list(self.counts) != sorted(set(self.counts)):
            raise ValueError("--counts: increasing numbers of subscribers, each at least 1")
        if not self.servers or any(s not in SERVERS for s in self.servers):
            raise ValueError(f"--servers: some of {', '.join(SERVERS)}")
        if self.warmup < 0 or self.duration <= 0:
            raise ValueError("--warmup must be >= 0 and --duration > 0")


class Publisher:
    """The camera, sent twice: to the server under test, and straight to a decoding probe of
    its own, so that every window compares the two paths under the same load."""

    def __init__(self) -> None:
        self.track = CounterTrack()
        self._relay = MediaRelay()
        self.pc = peer(decoding=True)
        pin_bitrate(self.pc.addTrack(self._relay.subscribe(self.track, buffered=False)))
        self._direct = peer(decoding=True)
        pin_bitrate(self._direct.addTrack(self._relay.subscribe(self.track, buffered=False)))
        self._direct_receiver = peer(decoding=True)
        self.direct_probe = DecodingProbe(self.track.sent_at.get)
        self.direct_probe.attach(self._direct_receiver)

    async def call_directly(self) -> None:
        receiver = self._direct_receiver
        receiver.addTransceiver("video", direction="recvonly")
        await receiver.setLocalDescription(await receiver.createOffer())
        await self._direct.setRemoteDescription(receiver.localDescription)
        await self._direct.setLocalDescription(await self._direct.createAnswer())
        await receiver.setRemoteDescription(self._direct.localDescription)

    async def close(self) -> None:
        await self.direct_probe.close()
        for pc in (self._direct_receiver, self._direct, self.pc):
            with contextlib.suppress(Exception):
                await pc.close()


class Server(ABC):
    """One server under test, as the generator's peers reach it."""

    name: str
    pid: int

    @abstractmethod
    async def start(self, session: aiohttp.ClientSession) -> None: ...

    @abstractmethod
    async def publish(self, publisher: Publisher) -> None: ...

    @abstractmethod
    async def subscribe(self, pc: Any, counter: FrameCounter | None) -> None:
        """Connect `pc` as a receiver of the publisher's video (`counter` counts its frames
        when it does not decode)."""

    async def counters(self, session: aiohttp.ClientSession) -> dict[str, float]:
        return {}

    @abstractmethod
    async def close(self) -> None: ...


class XietongParticipant:
    """One device in the meeting: its socket, its peer connection, and the server's pushed
    offers answered one at a time, in order."""

    def __init__(self, base_url: str, auth: dict[str, Any], meeting_id: str, pc: Any,
                 counter: FrameCounter | None) -> None:
        self.meeting_id = meeting_id
        self.pc = pc
        self.counter = counter
        self.offers: asyncio.Queue[str] = asyncio.Queue()
        self.client = SocketIOClient(base_url, auth, on_push=self._on_push, call_timeout=30)
        self._task: asyncio.Task[None] | None = None

    def _on_push(self, packet: str) -> None:
        if packet.startswith('42["rtc:offer"'):
            _, data = parse_event(packet)
            if data.get("meeting_id") == self.meeting_id:
                self.offers.put_nowait(data["sdp"])

    async def start(self) -> None:
        await self.client.connect()
        expect_ok(await self.client.call("meeting:join", {"meeting_id": self.meeting_id}),
                  "meeting:join")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = expect_ok(await self.client.call("rtc:offer", {
            "meeting_id": self.meeting_id, "sdp": self.pc.localDescription.sdp}), "rtc:offer")
        await self.pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        self._task = asyncio.ensure_future(self._answer_offers())

    async def _answer_offers(self) -> None:
        while True:
            sdp = await self.offers.get()
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            expect_ok(await self.client.call("rtc:answer", {
                "meeting_id": self.meeting_id, "sdp": self.pc.localDescription.sdp}),
                "rtc:answer")
            if self.counter is not None:
                count_received(self.pc, self.counter)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self.client.close()
        await self.pc.close()


class Xietong(Server):
    name = "xietong"

    def __init__(self, settings: Settings, participants: int) -> None:
        self.target = XietongTarget(settings)
        self.needed = participants
        self.auths: list[dict[str, Any]] = []
        self.meeting_id = ""
        self.participants: list[XietongParticipant] = []

    async def start(self, session: aiohttp.ClientSession) -> None:
        log.info("xietong: starting, importing %s", self.target.settings.org.name)
        await self.target.start(session)
        self.pid = self.target.pid
        people = await self.target.login_many(session, self.target.usernames[:self.needed])
        self.auths = [p.auth for p in people]
        organiser = SocketIOClient(self.target.base_url, self.auths[0])
        await organiser.connect()
        created = expect_ok(await organiser.call("meeting:create", {
            "title": "load meeting", "invitees": [p.user_id for p in people[1:]]}),
            "meeting:create")
        await organiser.close()
        self.meeting_id = created["meeting"]["id"]

    async def _join(self, pc: Any, counter: FrameCounter | None) -> None:
        auth = self.auths[len(self.participants) % len(self.auths)]
        participant = XietongParticipant(self.target.base_url, auth, self.meeting_id, pc,
                                         counter)
        self.participants.append(participant)
        await participant.start()

    async def publish(self, publisher: Publisher) -> None:
        await self._join(publisher.pc, None)

    async def subscribe(self, pc: Any, counter: FrameCounter | None) -> None:
        await self._join(pc, counter)

    async def counters(self, session: aiohttp.ClientSession) -> dict[str, float]:
        async with session.get(f"{self.target.base_url}/metrics") as response:
            text = await response.text()
        wanted = ("xietong_media_frames_decoded", "xietong_media_frames_encoded",
                  "xietong_media_packets_out", "xietong_media_dropped_slow")
        found = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                found[name.removeprefix("xietong_media_")] = float(value)
        return found

    async def close(self) -> None:
        for participant in self.participants:
            with contextlib.suppress(Exception):
                await participant.close()
        await self.target.close()


class Reference(Server):
    name = "reference"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.child: Child | None = None
        self.base_url = ""
        self.session: aiohttp.ClientSession | None = None
        self.peers: list[Any] = []

    async def start(self, session: aiohttp.ClientSession) -> None:
        port = free_loopback_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.session = session
        self.child = spawn("media-relay", [sys.executable, "-m",
                                           "loadtest.reference.media_relay", str(port)],
                           cwd=REPO_ROOT, log_file=self.settings.workdir / "media-relay.log")
        self.pid = self.child.pid
        await wait_healthy(self.child, session, f"{self.base_url}/healthz", 30)

    async def _signal(self, path: str, pc: Any) -> None:
        assert self.session is not None
        self.peers.append(pc)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await request_json(self.session, "POST", f"{self.base_url}{path}",
                                    json={"sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def publish(self, publisher: Publisher) -> None:
        await self._signal("/publish", publisher.pc)

    async def subscribe(self, pc: Any, counter: FrameCounter | None) -> None:
        pc.addTransceiver("video", direction="recvonly")
        await self._signal("/subscribe", pc)
        if counter is not None:
            count_received(pc, counter)

    async def close(self) -> None:
        for pc in self.peers:
            with contextlib.suppress(Exception):
                await pc.close()
        if self.child is not None:
            await self.child.stop()


@dataclass(frozen=True)
class Window:
    """What one measured window saw."""

    srv_cores: float
    gen_cpu_pct: float
    fps_min: float
    fps_median: float
    pps_median: float  # RTP packets per second at a subscriber
    probe_fps: float
    latency_ms: Summary
    direct_ms: Summary  # the same frames over the direct call, in the same window
    added_ms: Summary   # per frame: its latency through the server minus over the direct call


class Meter:
    """Frames and latencies over a window, for the subscribers attached so far."""

    def __init__(self, probe: DecodingProbe, direct: DecodingProbe, pid: int) -> None:
        self.probe = probe
        self.direct = direct
        self.counters: list[FrameCounter] = []
        self.pid = pid

    def _live(self) -> bool:
        recent = self.probe.latencies[-LIVE_FRAMES:]
        return len(recent) == LIVE_FRAMES and max(recent) <= LIVE_WITHIN

    async def caught_up(self, limit: float) -> bool:
        """Wait (at most `limit` s) until the probe's last `LIVE_FRAMES` frames were all at
        most `LIVE_WITHIN` s old. An aiortc subscriber that connects while others are
        joining can get its first seconds late, in one burst (the server's queue stays
        short meanwhile): windows measure the steady state after that. A saturated server
        never catches up; its window is measured anyway and marked."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                # The decoder's task appends latencies; looking ten times a second is plenty.
                while not self._live():  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                return True
        return False

    async def window(self, duration: float) -> Window:
        frames = [c.frames for c in self.counters]
        packets = [c.packets for c in self.counters]
        probe_frames = self.probe.frames
        first, direct_first = len(self.probe.latencies), len(self.direct.latencies)
        meter = CpuMeter(self.pid)
        began = time.perf_counter()
        meter.start()
        await asyncio.sleep(duration)
        gen_cpu, srv_cpu = meter.stop()
        wall = time.perf_counter() - began
        fps = [(c.frames - before) / wall for c, before in zip(self.counters, frames,
                                                                strict=True)]
        pps = [(c.packets - before) / wall for c, before in zip(self.counters, packets,
                                                                 strict=True)]
        return Window(srv_cores=srv_cpu / 100, gen_cpu_pct=gen_cpu,
                      fps_min=min(fps, default=0.0),
                      fps_median=statistics.median(fps) if fps else 0.0,
                      pps_median=statistics.median(pps) if pps else 0.0,
                      probe_fps=(self.probe.frames - probe_frames) / wall,
                      latency_ms=Summary.of(s * _MS for s in self.probe.latencies[first:]),
                      direct_ms=Summary.of(s * _MS for s in self.direct.latencies[direct_first:]),
                      added_ms=Summary.of(self._added(first)))

    def _added(self, first: int) -> list[float]:
        """Per frame, its latency through the server minus the same frame's over the direct
        call. Its median is what the extra hop costs a frame; its tails are wide both ways
        (each probe decodes in its own thread of this busy process, so either path's frame
        can be the one that waits), which is why the goal compares the two p99s instead."""
        direct = self.direct.latency_of
        return [(latency - direct[number]) * _MS
                for number, latency in zip(self.probe.numbers[first:],
                                           self.probe.latencies[first:], strict=True)
                if number in direct]


async def measure_server(server: Server, options: Options, session: aiohttp.ClientSession,
                         rows: list[dict[str, Any]]) -> None:
    """Append a row per N to `rows` as it is measured (a later failure keeps them)."""
    await server.start(session)
    publisher = Publisher()
    probe = DecodingProbe(publisher.track.sent_at.get)
    meter = Meter(probe, publisher.direct_probe, server.pid)
    try:
        await publisher.call_directly()
        await server.publish(publisher)
        probe_pc = peer(decoding=True)
        probe.attach(probe_pc)
        await server.subscribe(probe_pc, None)
        for n in options.counts:
            while len(meter.counters) < n:
                counter = FrameCounter()
                await server.subscribe(peer(decoding=False), counter)
                meter.counters.append(counter)
            await asyncio.sleep(options.warmup)
            live = await meter.caught_up(CATCH_UP_TIMEOUT)
            window = await meter.window(options.duration)
            log.info("%s N=%d: %.3f cores, %.1f fps (min %.1f), p99 %.1f ms (direct %.1f)",
                     server.name, n, window.srv_cores, window.fps_median, window.fps_min,
                     window.latency_ms.p99, window.direct_ms.p99)
            rows.append({"server": server.name, "n": n, "live": live, **asdict(window)})
        counters = await server.counters(session)
        if counters:
            rows[-1]["server_counters"] = counters
    finally:
        await probe.close()
        await server.close()
        await publisher.close()


def marginal(rows: list[dict[str, Any]], server: str) -> float | None:
    """(CPU at N=8 - CPU at N=1) / 7 in cores per subscriber, if both were measured."""
    cpu = {r["n"]: r["srv_cores"] for r in rows if r["server"] == server}
    if 1 not in cpu or 8 not in cpu:
        return None
    return (cpu[8] - cpu[1]) / 7


def verdicts(document: dict[str, Any]) -> dict[str, Any]:
    rows = document["rows"]
    ours, theirs = marginal(rows, "xietong"), marginal(rows, "reference")
    added = {r["n"]: r["latency_ms"]["p99"] - r["direct_ms"]["p99"] for r in rows
             if r["server"] == "xietong"}
    return {
        "marginal_cores": {"xietong": ours, "reference": theirs},
        "ratio": theirs / ours if ours and theirs and ours > 0 else None,
        "added_p99_ms": added,
    }


async def run(options: Options) -> dict[str, Any]:
    options.validate()
    document: dict[str, Any] = {"scenario": NAME, "options": harness.options_json(options),
                                "goals": {"marginal_cores": GOAL_MARGINAL_CORES,
                                          "ratio": GOAL_RATIO,
                                          "added_p99_ms": GOAL_ADDED_P99_MS},
                                "error": None, "rows": []}
    async with harness.workspace(options) as (settings, session):
        try:
            for name in options.servers:
                server: Server = Xietong(settings, max(options.counts) + 2) \
                    if name == "xietong" else Reference(settings)
                await measure_server(server, options, session, document["rows"])
        except Exception as exc:
            log.exception("meeting failed")
            document["error"] = f"{type(exc).__name__}: {exc}"[:500]
    document.update(verdicts(document))
    if options.out is not None:
        write_json(options.out, document)
    return document


COLUMNS = [
    Column("server", "server", left=True),
    Column("N", "n"),
    Column("srv_cores", "srv_cores", "{:.3f}"),
    Column("gen_cpu%", "gen_cpu_pct", "{:.0f}"),
    Column("fps_med", "fps_median", "{:.1f}"),
    Column("fps_min", "fps_min", "{:.1f}"),
    Column("pkt/s", "pps_median", "{:.0f}"),
    Column("probe_fps", "probe_fps", "{:.1f}"),
    Column("live", "live_text", left=True),
    *(Column(f"{key}ms", key, "{:.1f}") for key in ("p50", "p95", "p99")),
    Column("direct_p99ms", "direct_p99", "{:.1f}"),
    Column("frame_added_p50ms", "added_p50", "{:+.1f}"),
]


def _goal(value: float | None, ok: bool) -> str:
    return "-" if value is None else ("met" if ok else "missed")


def format_report(document: dict[str, Any]) -> str:
    options = document["options"]
    head = (f"meeting: one 640x480 30 fps VP8 publisher at {BITRATE // 1000} kbit/s, "
            f"N = {options['counts']} non-decoding "
            f"subscribers + 1 decoding probe; {options['duration']:g} s windows after "
            f"{options['warmup']:g} s")
    rows = [{**r, **r["latency_ms"], "direct_p99": r["direct_ms"]["p99"],
             "added_p50": r["added_ms"]["p50"],
             "live_text": "yes" if r["live"] else "behind"} for r in document["rows"]]
    goals = document["goals"]
    ours = document["marginal_cores"]["xietong"]
    theirs = document["marginal_cores"]["reference"]
    ratio = document["ratio"]
    added = document["added_p99_ms"]
    worst = max(added.values()) if added else None
    lines = [head, format_table(COLUMNS, rows)]
    if document["error"]:
        lines.append(f"error (the rows above were measured before it): {document['error']}")
    if ours is not None:
        lines.append(f"marginal cost xietong: {ours:.4f} core/subscriber "
                     f"(goal <= {goals['marginal_cores']}: "
                     f"{_goal(ours, ours <= goals['marginal_cores'])})")
    if theirs is not None:
        lines.append(f"marginal cost reference (MediaRelay): {theirs:.4f} core/subscriber")
    if ratio is not None:
        lines.append(f"reference / xietong: {ratio:.0f}x (goal >= {goals['ratio']:g}x: "
                     f"{_goal(ratio, ratio >= goals['ratio'])})")
    if worst is not None:
        per_n = ", ".join(f"N={n}: {v:+.1f}" for n, v in added.items())
        lines.append(f"p99 added over the direct call in the same window (ms): {per_n} (goal <= "
                     f"{goals['added_p99_ms']:g}: {_goal(worst, worst <= goals['added_p99_ms'])})")
    counters = next((r["server_counters"] for r in document["rows"]
                     if "server_counters" in r), None)
    if counters:
        lines.append("xietong /metrics: " + ", ".join(f"{k} {v:.0f}"
                                                      for k, v in counters.items()))
    return "\n\n".join(lines)


def failed(document: dict[str, Any]) -> bool:
    """A run fails when it broke or a subscriber received nothing (a missed goal is reported,
    not failed)."""
    return bool(document["error"]) or any(r["fps_min"] <= 0 or r["probe_fps"] <= 0
                                          for r in document["rows"])


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Options()
    add = parser.add_argument
    add("--counts", type=_numbers, default=d.counts,
        help="subscriber counts, increasing (1,2,4,8,16,32)")
    add("--servers", type=lambda t: tuple(t.split(",")), default=d.servers,
        help="servers measured, in this order (xietong,reference)")
    add("--warmup", type=float, default=d.warmup, help="seconds before each window (%(default)s)")
    add("--duration", type=float, default=d.duration, help="seconds measured (%(default)s)")
    harness.add_common_arguments(parser)


def options_from(args: argparse.Namespace) -> Options:
    return Options(**harness.common_options(args), counts=args.counts, servers=args.servers,
                   warmup=args.warmup, duration=args.duration)


async def main(args: argparse.Namespace) -> int:
    document = await run(options_from(args))
    print(format_report(document))
    return 1 if failed(document) else 0

