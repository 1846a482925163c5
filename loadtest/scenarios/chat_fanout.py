"""chat-fanout: N sockets in G chat groups, a steady total send rate, every message delivered
to every member of its group; for each server: throughput, delivery latency, CPU and memory.

    python -m loadtest chat-fanout [--servers xietong,node,python] [--clients 1000]
        [--groups 20] [--rates 100,400,800] [--duration 10] [--idle-sockets 1000] [--out F]

Per server (one at a time, so they never share the machine): start it, measure its RSS with
`--idle-sockets` and twice as many idle connected sockets, connect the clients, form the
groups, then for each rate a warm-up and a measured window. A message carries its send time
(`perf_counter_ns` of this process) in its text; a receipt parses only that out of the raw
packet and records the latency. After the window the run waits up to `--drain` seconds for
stragglers; what has not come by then is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import logging
import random
import time
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from loadtest.harness import (
    CommonOptions,
    add_common_arguments,
    common_options,
    kept_log,
    options_json,
    require_open_files,
    workspace,
)
from loadtest.procs import CpuMeter, rss_bytes, tree_rss_bytes
from loadtest.rate import Pacer
from loadtest.report import LOAD_COLUMNS, Column, Summary, format_table, write_json
from loadtest.servers import TARGETS, Identity, Target
from loadtest.wire import ACK_LOST, SocketIOClient, WireError, close_many, connect_many

log = logging.getLogger("loadtest.chat_fanout")

NAME = "chat-fanout"
HELP = "chat groups: send rate vs. deliveries/s, delivery latency, CPU and memory per server"
_MSG_NEW = '42["msg:new"'
_MB = 1024 * 1024


@dataclass(frozen=True)
class Options(CommonOptions):
    servers: tuple[str, ...] = ("xietong", "node", "python")
    clients: int = 1000
    groups: int = 20
    rates: tuple[float, ...] = (100, 400, 800)
    duration: float = 10.0
    warmup: float = 2.0
    drain: float = 5.0
    late_ms: float = 1000.0
    idle_sockets: int = 1000
    settle: float = 1.0
    seed: int = 1

    def validate(self) -> None:
        unknown = [s for s in self.servers if s not in TARGETS]
        if unknown or not self.servers:
            raise ValueError(f"--servers: unknown {unknown}; choose from {', '.join(TARGETS)}")
        if self.groups < 1 or self.clients < self.groups:
            raise ValueError("--clients must be at least --groups, and --groups at least 1")
        if not self.rates or min(self.rates) <= 0:
            raise ValueError("--rates: positive numbers")
        if self.duration <= 0 or self.warmup < 0 or self.drain < 0:
            raise ValueError("--duration must be positive; --warmup and --drain not negative")
        if self.idle_sockets < 0:
            raise ValueError("--idle-sockets must not be negative")


# results ----------------------------------------------------------------------------------


@dataclass
class StepResult:
    rate: float
    duration: float
    sent: int
    sent_per_s: float
    expected: int
    delivered: int
    delivered_in_window: int
    delivered_per_s: float
    latency_ms: Summary
    ack_latency_ms: Summary
    lost: int
    duplicated: int
    late: int
    incomplete_members: int
    send_errors: int
    ack_errors: int
    unacked: int
    first_error: str | None
    gen_cpu_pct: float
    srv_cpu_pct: float
    srv_rss_mb: float
    srv_tree_rss_mb: float


@dataclass
class IdleResult:
    sockets: int
    rss_mb: float
    rss2_mb: float
    kb_per_socket: float


@dataclass
class ServerResult:
    server: str
    steps: list[StepResult] = field(default_factory=list)
    idle: IdleResult | None = None
    setup_seconds: float = 0.0
    error: str | None = None
    log_file: str | None = None


# the hot path -----------------------------------------------------------------------------


class Recorder:
    """Everything one phase (a warm-up or a measured window) counts, reset by `begin`.

    One recorder serves all phases of a fan-out so that each client's push callback is a
    `functools.partial` of `record`, one Python frame per delivery. Receipts and acks of an
    earlier phase carry its step and are ignored."""

    def __init__(self, members: int, groups: int) -> None:
        self.members = members
        self.groups = groups
        self.pushes = 0  # every msg:new of every phase, to see when the server has gone quiet
        self.begin(-1, 0)

    def begin(self, step: int, capacity: int) -> None:
        self.step = step
        self.marker = f"~{step}."
        self.skip = len(self.marker)
        self.latencies: list[int] = []
        self.counts = array("I", bytes(4 * max(capacity, 1)))
        self.expected_counts = array("I", bytes(4 * max(capacity, 1)))
        self.per_member = array("I", bytes(4 * self.members))
        self.group_sends = array("I", bytes(4 * self.groups))
        self.delivered = 0
        self.expected = 0
        self.sent = 0
        self.send_errors = 0
        self.acks = 0
        self.ack_errors = 0
        self.ack_latencies: list[int] = []
        self.first_error: str | None = None
        self._waiting = False
        self._complete = asyncio.Event()

    async def complete(self) -> None:
        """Return once every expected delivery and every ack (or send failure) is in; call it
        after the last send."""
        self._waiting = True
        self._check()
        await self._complete.wait()

    def _check(self) -> None:
        if self.delivered >= self.expected and self.acks + self.send_errors >= self.sent:
            self._complete.set()

    def record(self, member: int, packet: str) -> None:
        """A push to client `member`: if it is a `msg:new` of this phase, count it."""
        if not packet.startswith(_MSG_NEW):
            return
        self.pushes += 1
        start = packet.find(self.marker)
        if start < 0:
            return
        now = time.perf_counter_ns()
        start += self.skip
        dot = packet.index(".", start)
        end = packet.index("~", dot)
        self.latencies.append(now - int(packet[dot + 1 : end]))
        self.counts[int(packet[start:dot])] += 1
        self.per_member[member] += 1
        self.delivered += 1
        if self._waiting:
            self._check()

    def on_ack(self, step: int, sent_ns: int, answer: Any) -> None:
        if step != self.step:
            return
        self.acks += 1
        if isinstance(answer, dict) and answer.get("ok") is True:
            self.ack_latencies.append(time.perf_counter_ns() - sent_ns)
        else:
            self.ack_errors += 1
            if self.first_error is None:
                self.first_error = "socket closed" if answer is ACK_LOST else repr(answer)[:300]
        if self._waiting:
            self._check()


@dataclass
class Member:
    index: int
    identity: Identity
    client: SocketIOClient
    group: int


@dataclass
class Group:
    index: int
    ref: str
    members: list[Member]


class Fanout:
    """The connected clients of one server, in their groups, and the sender."""

    def __init__(self, target: Target, seed: int) -> None:
        self.target = target
        self.members: list[Member] = []
        self.groups: list[Group] = []
        self.recorder = Recorder(0, 0)
        self.rng = random.Random(seed)  # noqa: S311 - picks senders, not secrets

    async def connect(self, identities: Sequence[Identity],
                      groups: int, concurrency: int) -> None:
        sizes = [len(identities) // groups + (1 if g < len(identities) % groups else 0)
                 for g in range(groups)]
        self.recorder = Recorder(len(identities), groups)
        first = 0
        for g, size in enumerate(sizes):
            for identity in identities[first : first + size]:
                index = len(self.members)
                client = SocketIOClient(self.target.base_url, identity.auth,
                                        functools.partial(self.recorder.record, index))
                self.members.append(Member(index, identity, client, g))
            first += size
        await connect_many([m.client for m in self.members], concurrency)
        first = 0
        for g, size in enumerate(sizes):
            members = self.members[first : first + size]
            ref = await self.target.form_group(g + 1, [(m.identity, m.client) for m in members])
            self.groups.append(Group(g, ref, members))
            first += size

    async def close(self) -> None:
        await close_many([m.client for m in self.members])

    def receivers(self, group: Group) -> int:
        return len(group.members) - (0 if self.target.echo_to_sender else 1)

    async def send(self, index: int) -> None:
        recorder = self.recorder
        group = self.groups[self.rng.randrange(len(self.groups))]
        member = group.members[self.rng.randrange(len(group.members))]
        sent_ns = time.perf_counter_ns()
        event, data = self.target.send_event(
            group.ref, f"lt-{recorder.step}-{index}", f"load ~{recorder.step}.{index}.{sent_ns}~")
        receivers = self.receivers(group)
        recorder.expected_counts[index] = receivers
        recorder.expected += receivers
        recorder.group_sends[group.index] += 1
        recorder.sent += 1
        try:
            await member.client.emit(event, data,
                                     functools.partial(recorder.on_ack, recorder.step, sent_ns))
        except (WireError, ConnectionError) as exc:
            recorder.send_errors += 1
            if recorder.first_error is None:
                recorder.first_error = f"send: {type(exc).__name__}: {exc}"[:300]

    async def run_phase(self, step: int, rate: float, duration: float) -> Recorder:
        """Send at `rate` for `duration` seconds, evenly spaced; return what was counted."""
        pacer = Pacer(rate, time.perf_counter(), duration)
        recorder = self.recorder
        recorder.begin(step, pacer.total)
        sent = 0
        async with asyncio.timeout(duration + 30):
            while sent < pacer.total and time.perf_counter() < pacer.end:
                due = pacer.due(time.perf_counter())
                while sent < due:
                    await self.send(sent)
                    sent += 1
                if sent < pacer.total:
                    await asyncio.sleep(max(0.0, pacer.time_of(sent) - time.perf_counter()))
            # The window is the whole duration, not just until the last send.
            await asyncio.sleep(max(0.0, pacer.end - time.perf_counter()))
        return recorder

    async def quiesce(self, quiet: float = 0.5, limit: float = 30.0) -> None:
        """Wait (at most `limit` s) until no `msg:new` has come for `quiet` s, so an overloaded
        server's backlog does not spill into the next step."""
        last = self.recorder.pushes
        for _ in range(max(1, round(limit / quiet))):
            await asyncio.sleep(quiet)
            if self.recorder.pushes == last:
                return
            last = self.recorder.pushes

    def incomplete_members(self, recorder: Recorder) -> int:
        """Members that did not get exactly the messages sent to their group."""
        echo = self.target.echo_to_sender
        wrong = 0
        for member in self.members:
            expected = recorder.group_sends[member.group]
            got = recorder.per_member[member.index]
            if got != expected and (echo or got > expected):
                wrong += 1
        return wrong


async def measure_step(fanout: Fanout, step: int, rate: float, options: Options) -> StepResult:
    if options.warmup > 0:
        await fanout.run_phase(2 * step, rate, options.warmup)
    meter = CpuMeter(fanout.target.pid)
    meter.start()
    started = time.perf_counter()
    recorder = await fanout.run_phase(2 * step + 1, rate, options.duration)
    window = max(time.perf_counter() - started, 1e-9)
    in_window = recorder.delivered
    gen_cpu, srv_cpu = meter.stop()
    pid = fanout.target.pid
    rss, tree_rss = rss_bytes(pid), tree_rss_bytes(pid)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(options.drain):
            await recorder.complete()

    sent = recorder.sent
    lost = duplicated = 0
    for index in range(sent):
        diff = recorder.counts[index] - recorder.expected_counts[index]
        if diff < 0:
            lost -= diff
        else:
            duplicated += diff
    late_ns = options.late_ms * 1e6
    result = StepResult(
        rate=rate, duration=window, sent=sent, sent_per_s=sent / window,
        expected=recorder.expected, delivered=recorder.delivered, delivered_in_window=in_window,
        delivered_per_s=in_window / window,
        latency_ms=Summary.of(recorder.latencies).scaled(1e-6),
        ack_latency_ms=Summary.of(recorder.ack_latencies).scaled(1e-6),
        lost=lost, duplicated=duplicated,
        late=sum(1 for ns in recorder.latencies if ns > late_ns),
        incomplete_members=fanout.incomplete_members(recorder),
        send_errors=recorder.send_errors, ack_errors=recorder.ack_errors,
        unacked=sent - recorder.acks - recorder.send_errors, first_error=recorder.first_error,
        gen_cpu_pct=gen_cpu, srv_cpu_pct=srv_cpu,
        srv_rss_mb=rss / _MB, srv_tree_rss_mb=tree_rss / _MB)
    if recorder.delivered < recorder.expected:
        await fanout.quiesce()
    return result


# idle memory ------------------------------------------------------------------------------


async def settled_rss(pid: int, settle: float) -> int:
    """VmRSS once it stops moving: after `settle` s, until two readings 0.2 s apart agree
    within 0.5 % (at most 3 s more)."""
    await asyncio.sleep(settle)
    last = rss_bytes(pid)
    for _ in range(15):
        await asyncio.sleep(0.2)
        now = rss_bytes(pid)
        if abs(now - last) <= 0.005 * last:
            return now
        last = now
    return last


async def measure_idle(target: Target, identities: Sequence[Identity],
                       options: Options) -> IdleResult:
    step = options.idle_sockets
    clients: list[SocketIOClient] = []
    readings: list[int] = []
    try:
        for level in (step, 2 * step):
            fresh = [SocketIOClient(target.base_url, identities[i % len(identities)].auth)
                     for i in range(len(clients), level)]
            clients.extend(fresh)
            await connect_many(fresh, options.connect_concurrency)
            readings.append(await settled_rss(target.pid, options.settle))
            log.info("%s: RSS %.1f MB with %d idle sockets", target.name, readings[-1] / _MB,
                     level)
    finally:
        await close_many(clients)
    return IdleResult(step, readings[0] / _MB, readings[1] / _MB,
                      (readings[1] - readings[0]) / 1024 / step)


# one server, then all ---------------------------------------------------------------------


async def run_server(target: Target, session: aiohttp.ClientSession,
                     options: Options) -> ServerResult:
    result = ServerResult(target.name, log_file=kept_log(target, options))
    started = time.perf_counter()
    log.info("%s: starting", target.name)
    await target.start(session)
    identities = await target.identities(session, max(options.clients,
                                                      2 * options.idle_sockets))
    if options.idle_sockets:
        result.idle = await measure_idle(target, identities, options)
    fanout = Fanout(target, options.seed)
    try:
        await fanout.connect(identities[: options.clients], options.groups,
                             options.connect_concurrency)
        result.setup_seconds = time.perf_counter() - started
        log.info("%s: %d clients in %d groups ready in %.1fs", target.name,
                 len(fanout.members), len(fanout.groups), result.setup_seconds)
        gc.collect()
        gc.freeze()
        try:
            for step, rate in enumerate(options.rates):
                outcome = await measure_step(fanout, step, rate, options)
                result.steps.append(outcome)
                log.info("%s @%g/s: sent %.0f/s, delivered %.0f/s, p99 %.1f ms, lost %d",
                         target.name, rate, outcome.sent_per_s, outcome.delivered_per_s,
                         outcome.latency_ms.p99, outcome.lost)
        finally:
            gc.unfreeze()
    finally:
        await fanout.close()
    return result


async def run(options: Options) -> dict[str, Any]:
    """Run the scenario against every server of `options`; return the report document."""
    options.validate()
    require_open_files(options.clients + 2 * options.idle_sockets + 100)
    results: list[ServerResult] = []
    async with workspace(options) as (settings, session):
        for name in options.servers:
            target = TARGETS[name](settings)
            try:
                results.append(await run_server(target, session, options))
            except Exception as exc:
                log.exception("%s failed", name)
                results.append(ServerResult(name, error=f"{type(exc).__name__}: {exc}",
                                            log_file=kept_log(target, options)))
            finally:
                await target.close()
    document = {"scenario": NAME, "options": options_json(options),
                "servers": [asdict(r) for r in results]}
    if options.out is not None:
        write_json(options.out, document)
    return document


# the report -------------------------------------------------------------------------------

STEP_COLUMNS = [
    Column("server", "server", left=True),
    Column("target/s", "rate", "{:g}"),
    Column("sent/s", "sent_per_s", "{:.0f}"),
    Column("delivered/s", "delivered_per_s", "{:.0f}"),
    Column("p50ms", "p50", "{:.1f}"),
    Column("p99ms", "p99", "{:.1f}"),
    Column("maxms", "max", "{:.0f}"),
    Column("lost", "lost"),
    Column("late", "late"),
    Column("errors", "errors"),
    *LOAD_COLUMNS,
]


def step_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per step and server, the servers side by side under each rate."""
    rows: list[dict[str, Any]] = []
    for index in range(len(document["options"]["rates"])):
        for server in document["servers"]:
            if server["error"] is not None or index >= len(server["steps"]):
                continue
            step = server["steps"][index]
            latency = step["latency_ms"]
            rows.append({**step, "server": server["server"], "p50": latency["p50"],
                         "p99": latency["p99"], "max": latency["max"],
                         "errors": step["send_errors"] + step["ack_errors"]})
    for server in document["servers"]:
        if server["error"] is not None:
            rows.append({"server": server["server"], "error": server["error"]})
    return rows


def idle_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"server": s["server"], **s["idle"]} for s in document["servers"] if s["idle"]]


def format_report(document: dict[str, Any]) -> str:
    def error(row: dict[str, Any]) -> str | None:
        text = row.get("error")
        return None if text is None else f"error: {str(text).splitlines()[0][:200]}"

    options = document["options"]
    parts = [f"chat-fanout: {options['clients']} clients in {options['groups']} groups, "
             f"{options['duration']:g} s per rate after {options['warmup']:g} s warm-up; "
             f"latency = send to receipt; late > {options['late_ms']:g} ms",
             format_table(STEP_COLUMNS, step_rows(document), note=error)]
    problems = [f"{s['server']} @{step['rate']:g}/s: {step['send_errors']} send errors, "
                f"{step['ack_errors']} error acks, {step['unacked']} sends unanswered after the "
                f"drain" + (f"; the first error: {step['first_error']}"
                           if step["first_error"] else "")
                for s in document["servers"] if s["error"] is None for step in s["steps"]
                if step["first_error"] or step["unacked"]]
    if problems:
        parts.append("\n".join(problems))
    idle = idle_rows(document)
    if idle:
        n = options["idle_sockets"]
        parts.append(format_table([
            Column("server", "server", left=True), Column(f"rss@{n}_MB", "rss_mb", "{:.1f}"),
            Column(f"rss@{2 * n}_MB", "rss2_mb", "{:.1f}"),
            Column("KB/socket", "kb_per_socket", "{:.1f}")], idle))
    return "\n\n".join(parts)


# command line -----------------------------------------------------------------------------


def _csv(kind: type[Any]) -> Any:
    def parse(raw: str) -> tuple[Any, ...]:
        try:
            return tuple(kind(part.strip()) for part in raw.split(",") if part.strip())
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"a comma-separated list: {raw}") from exc

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Options()
    add = parser.add_argument
    add("--servers", type=_csv(str), default=d.servers,
        help=f"comma-separated, from {','.join(TARGETS)} (default: all)")
    add("--clients", type=int, default=d.clients, help="sockets in the groups (%(default)s)")
    add("--groups", type=int, default=d.groups, help="chat groups (%(default)s)")
    add("--rates", type=_csv(float), default=d.rates,
        help="total messages/s of each step (default 100,400,800)")
    add("--duration", type=float, default=d.duration, help="seconds measured per rate")
    add("--warmup", type=float, default=d.warmup, help="seconds sent before each window")
    add("--drain", type=float, default=d.drain, help="seconds to wait for stragglers")
    add("--late-ms", type=float, default=d.late_ms, help="a delivery slower than this is late")
    add("--idle-sockets", type=int, default=d.idle_sockets,
        help="RSS is measured with this many and twice as many idle sockets (0: skip)")
    add("--settle", type=float, default=d.settle, help="seconds before reading idle RSS")
    add("--seed", type=int, default=d.seed)
    add_common_arguments(parser)


def options_from(args: argparse.Namespace) -> Options:
    return Options(**common_options(args), servers=tuple(args.servers), clients=args.clients,
                   groups=args.groups, rates=tuple(args.rates), duration=args.duration,
                   warmup=args.warmup, drain=args.drain, late_ms=args.late_ms,
                   idle_sockets=args.idle_sockets, settle=args.settle, seed=args.seed)


async def main(args: argparse.Namespace) -> int:
    options = options_from(args)
    document = await run(options)
    print(format_report(document))
    return 1 if any(s["error"] for s in document["servers"]) else 0
