"""card-storm: one card held by many, and many approvers acting at once, on Xietong with the
large organisation imported (issue 4). Goal: p99 <= 100 ms for `card:update` to reach every
holder.

    python -m loadtest card-storm [--holders 1000] [--approvers 200] [--rounds 5] [--out F]

Part A, one card and its holders: an OA application (registered by the admin; its callbacks
go to a receiver in this process, which answers 200) sends a card to `--holders` distinct
users with `POST /api/v1/cards`; delivery is the time from the POST to each holder's
`msg:new`. Then one holder acts: the time from `card:act` to each holder's `card:update` of
the new version, to the callback, and to the version showing the callback's outcome.
`--rounds` rounds, a new card and another actor each.

Part B, approvers at once: `--approvers` staff members whose department heads (as the
routing endpoint names them) are as many distinct people each start a one-day leave, which
only their head approves. Once every head has the card, all heads approve in the same loop
turn. Per card: the act's acknowledgement, and the time from the act to the `card:update` at
the applicant and at the head; every card must end `approved`.

Every wait gives up after `--timeout` seconds; what has not come by then is lost. Times are
`perf_counter_ns` of this process, taken as each push arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

from loadtest import harness
from loadtest.inbox import DELIVERY, CardInbox
from loadtest.oa_app import CallbackReceiver, OaApp
from loadtest.procs import CpuMeter, rss_bytes
from loadtest.report import LOAD_COLUMNS, Column, Summary, format_table
from loadtest.servers import XietongTarget, expect_ok
from loadtest.wire import SocketIOClient, close_many, connect_many

log = logging.getLogger("loadtest.card_storm")

NAME = "card-storm"
HELP = "cards: one card to many holders, many approvers at once; delivery and card:update"
_MS = 1e-6
_MB = 1024 * 1024
_LEAVE_DAY = "2026-12-01"
#: Issue 4's goal: p99 of card:update reaching every holder.
GOAL_MS = 100.0

# A pending card of part B: (card id, applicant, head, version).
Pending = tuple[str, str, str, int]


@dataclass(frozen=True)
class Options(harness.CommonOptions):
    holders: int = 1000
    approvers: int = 200
    rounds: int = 5
    timeout: float = 60.0

    def validate(self) -> None:
        if self.holders < 1 or self.rounds < 0 or self.approvers < 0:
            raise ValueError("--holders must be at least 1; --rounds and --approvers not "
                             "negative")
        if self.timeout <= 0:
            raise ValueError("--timeout must be positive")


# results ----------------------------------------------------------------------------------


@dataclass
class Measure:
    """A latency distribution in ms and, where a number of samples was due, how many never
    came. `goal`: the p99 goal applies to it."""

    label: str
    ms: Summary
    expected: int | None = None
    lost: int | None = None
    goal: bool = False

    @classmethod
    def of(cls, label: str, samples_ns: Sequence[int], expected: int | None = None,
           goal: bool = False) -> Measure:
        lost = None if expected is None else expected - len(samples_ns)
        return cls(label, Summary.of(samples_ns).scaled(_MS), expected, lost, goal)


@dataclass
class Load:
    """CPU over a part in % of one core (the server summed over its process tree)."""

    seconds: float
    gen_cpu_pct: float
    srv_cpu_pct: float
    srv_rss_mb: float


@dataclass
class Round:
    """One card of part A; its latencies in ms (None: it never came)."""

    index: int
    card_id: str | None = None
    post_ms: float | None = None
    delivered: int = 0
    delivery_ms: Summary = field(default_factory=lambda: Summary.of(()))
    act_ack_ms: float | None = None
    updated: int = 0
    update_ms: Summary = field(default_factory=lambda: Summary.of(()))
    callback_ms: float | None = None
    outcome_shown: int = 0
    error: str | None = None


@dataclass
class Part:
    """One part's measures (by key), CPU, and the first error that stopped it."""

    measures: dict[str, Measure] = field(default_factory=dict)
    load: Load | None = None
    error: str | None = None


@dataclass
class PartA(Part):
    holders: int = 0
    rounds: list[Round] = field(default_factory=list)


@dataclass
class PartB(Part):
    pairs: list[tuple[str, str]] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    not_approved: int = 0
    first_error: str | None = None


@dataclass
class _Samples:
    """Part A's samples over all rounds, in ns."""

    post: list[int] = field(default_factory=list)
    delivery: list[int] = field(default_factory=list)
    act_ack: list[int] = field(default_factory=list)
    update: list[int] = field(default_factory=list)
    update_all: list[int] = field(default_factory=list)
    callback: list[int] = field(default_factory=list)
    outcome: list[int] = field(default_factory=list)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


# the run ----------------------------------------------------------------------------------


class Storm:
    """The server, one connected socket per user involved, and what their sockets received."""

    def __init__(self, target: XietongTarget, session: aiohttp.ClientSession,
                 options: Options) -> None:
        self.target = target
        self.session = session
        self.options = options
        self.inbox = CardInbox()
        self.clients: dict[str, SocketIOClient] = {}

    async def connect(self, usernames: Sequence[str]) -> None:
        identities = await self.target.login_many(self.session, usernames)
        for identity in identities:
            self.clients[identity.user_id] = SocketIOClient(
                self.target.base_url, identity.auth,
                functools.partial(self.inbox.on_push, identity.user_id),
                call_timeout=self.options.timeout)
        await connect_many(list(self.clients.values()), self.options.connect_concurrency)

    async def close(self) -> None:
        await close_many(self.clients.values())

    async def measured(self, part: Part, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (a coroutine filling `part`) with the CPU meter on; an error ends the
        part, not the run."""
        meter = CpuMeter(self.target.pid)
        meter.start()
        started = time.perf_counter()
        try:
            await work
        except Exception as exc:
            part.error = _error(exc)
            log.warning("card-storm: %s", part.error)
        gen, srv = meter.stop()
        part.load = Load(time.perf_counter() - started, gen, srv,
                         rss_bytes(self.target.pid) / _MB)

    # choosing people ----------------------------------------------------------------------

    async def routing_heads(self, token: str, user_ids: Sequence[str]) -> dict[str, str | None]:
        """Each user's first approver: their department head as the server routes it."""
        gate = asyncio.Semaphore(self.options.login_concurrency)
        rest = self.target.rest(self.session, token)

        async def head(user_id: str) -> str | None:
            async with gate:
                answer = await rest.request("GET", f"/api/v1/directory/users/{user_id}/routing")
            value = answer["routing"].get("department_head")
            return str(value) if value else None

        heads = await asyncio.gather(*(head(u) for u in user_ids))
        return dict(zip(user_ids, heads, strict=True))

    async def pick_pairs(self, token: str, count: int) -> list[tuple[str, str]]:
        """`count` (applicant, head) pairs: staff members who head nothing, whose heads are
        `count` distinct people. One candidate per department, as most share one head."""
        org = self.target.org
        named_heads = {d["head"] for d in org["departments"] if d.get("head")}
        per_department: dict[str, str] = {}
        for user in org["users"]:
            if (not user.get("disabled") and user.get("roles") == ["staff"]
                    and user["username"] not in named_heads):
                per_department.setdefault(user["dept_id"], user["username"])
        candidates = list(per_department.values())
        pairs: list[tuple[str, str]] = []
        taken: set[str] = set()
        while len(pairs) < count and candidates:
            wanted = count - len(pairs)
            batch, candidates = candidates[:wanted], candidates[wanted:]
            for applicant, head in (await self.routing_heads(token, batch)).items():
                if head is not None and head != applicant and head not in taken:
                    taken.add(head)
                    pairs.append((applicant, head))
        if len(pairs) < count:
            raise ValueError(f"--approvers {count}: the organisation has only {len(pairs)} "
                             "staff members with distinct department heads")
        return pairs

    # part A -------------------------------------------------------------------------------

    async def part_a(self, token: str, receiver: CallbackReceiver, holders: list[str],
                     part: PartA) -> None:
        app = await OaApp.register(self.session, self.target.base_url, token, NAME,
                                   receiver.url)
        samples = _Samples()
        for index in range(self.options.rounds):
            result = Round(index)
            part.rounds.append(result)
            try:
                await self.card_round(app, receiver, holders, result, samples)
            except Exception as exc:
                result.error = _error(exc)
                part.error = part.error or result.error
                log.warning("card-storm A round %d: %s", index + 1, result.error)
            log.info("A round %d: %d/%d delivered, p99 %.1f ms; %d updated, p99 %.1f ms",
                     index + 1, result.delivered, len(holders), result.delivery_ms.p99,
                     result.updated, result.update_ms.p99)
        rounds = len(part.rounds)
        each = len(holders) * rounds
        acted = len(samples.act_ack)
        part.measures = {
            "post": Measure.of("A POST /api/v1/cards answered", samples.post, rounds),
            "delivery": Measure.of("A card to each holder (POST -> msg:new)",
                                   samples.delivery, each),
            "act_ack": Measure.of("A card:act ack", samples.act_ack, rounds),
            "update": Measure.of("A card:update to each holder", samples.update, each,
                                 goal=True),
            "update_all": Measure.of("A card:update to the last holder", samples.update_all,
                                     rounds),
            "callback": Measure.of("A OA callback (act -> receiver)", samples.callback,
                                   acted),
            "outcome": Measure.of("A its outcome on the card, each holder", samples.outcome,
                                  len(holders) * len(samples.callback))}

    async def card_round(self, app: OaApp, receiver: CallbackReceiver, holders: list[str],
                         result: Round, samples: _Samples) -> None:
        """One card to every holder, then one of them acts."""
        timeout = self.options.timeout
        actor = holders[result.index % len(holders)]
        card = {"to": holders, "title": f"压力测试通知（第{result.index + 1}轮）",
                "fields": [{"label": "轮次", "value": str(result.index + 1)}],
                "actions": [{"id": "ack", "label": "已阅"}], "actors": [actor]}
        sent = time.perf_counter_ns()
        answer = await app.send_card(self.session, card, timeout)
        samples.post.append(time.perf_counter_ns() - sent)
        result.post_ms = samples.post[-1] * _MS
        card_id = result.card_id = str(answer["card_id"])
        if answer.get("holders") != len(holders):
            raise RuntimeError(f"card {card_id}: {answer.get('holders')} holders, not "
                               f"{len(holders)}")
        got = _since(sent, await self.inbox.wait(card_id, DELIVERY, holders, timeout))
        samples.delivery.extend(got)
        result.delivered, result.delivery_ms = len(got), Summary.of(got).scaled(_MS)

        client = self.clients[actor]
        view = expect_ok(await client.call("card:get", {"card_id": card_id}),
                         "card:get")["card"]
        if not view.get("actions"):
            raise RuntimeError(f"card {card_id} opens no action to {actor}: {view!r}"[:500])
        version = int(view["version"])
        acted = time.perf_counter_ns()
        act = asyncio.ensure_future(client.call_timed("card:act", {
            "card_id": card_id, "action": view["actions"][0]["id"], "version": version,
            "idempotency_key": f"storm-a-{result.index}"}))
        try:
            got = _since(acted, await self.inbox.wait(card_id, version + 1, holders, timeout))
        except BaseException:
            act.cancel()
            raise
        ack, acked = await act
        expect_ok(ack, "card:act")
        samples.act_ack.append(acked - acted)
        result.act_ack_ms = samples.act_ack[-1] * _MS
        samples.update.extend(got)
        result.updated, result.update_ms = len(got), Summary.of(got).scaled(_MS)
        if len(got) == len(holders):
            samples.update_all.append(max(got))
        called = await receiver.wait_for(card_id, timeout)
        if called is None:
            return
        samples.callback.append(called - acted)
        result.callback_ms = samples.callback[-1] * _MS
        # The application's answer shows on the card as one more version; waiting for it
        # keeps its fan-out out of the next round.
        got = _since(acted, await self.inbox.wait(card_id, version + 2, holders, timeout))
        samples.outcome.extend(got)
        result.outcome_shown = len(got)

    # part B -------------------------------------------------------------------------------

    async def part_b(self, part: PartB) -> None:
        timeout = self.options.timeout
        started = await asyncio.gather(*(self.start_leave(applicant, n)
                                         for n, (applicant, _) in enumerate(part.pairs)),
                                       return_exceptions=True)
        cards: list[Pending] = []
        sent_at: dict[str, int] = {}
        start_acks: list[int] = []
        for (applicant, head), outcome in zip(part.pairs, started, strict=True):
            if isinstance(outcome, BaseException):
                part.first_error = part.first_error or f"flow:start: {_error(outcome)}"
                continue
            card_id, version, sent, acked = outcome
            cards.append((card_id, applicant, head, version))
            sent_at[card_id] = sent
            start_acks.append(acked - sent)

        reached = await asyncio.gather(*(self.inbox.wait(card_id, DELIVERY, [head], timeout)
                                         for card_id, _, head, _ in cards))
        ready = [card for card, got in zip(cards, reached, strict=True) if got]
        to_head = [got[card[2]] - sent_at[card[0]]
                   for card, got in zip(cards, reached, strict=True) if got]
        log.info("B: %d of %d leave requests at their heads; they approve at once",
                 len(ready), len(part.pairs))

        acted_at: dict[str, int] = {}

        async def approve(card_id: str, head: str, version: int) -> tuple[Any, int]:
            acted_at[card_id] = time.perf_counter_ns()
            return await self.clients[head].call_timed("card:act", {
                "card_id": card_id, "action": "approve", "version": version,
                "idempotency_key": f"storm-b-{card_id}"})

        # Every act leaves in one loop turn: gather starts each coroutine, and each sends
        # before it first waits.
        acts = asyncio.gather(*(approve(card_id, head, version)
                                for card_id, _, head, version in ready),
                              return_exceptions=True)
        try:
            updated = await asyncio.gather(*(
                self.inbox.wait(card_id, version + 1, [applicant, head], timeout)
                for card_id, applicant, head, version in ready))
        except BaseException:
            acts.cancel()
            raise
        answers = await acts
        acks = self.settle_acts(part, ready, acted_at, answers)
        per_holder: list[int] = []
        per_card: list[int] = []
        for (card_id, _, _, _), got in zip(ready, updated, strict=True):
            times = _since(acted_at[card_id], got)
            per_holder.extend(times)
            if len(times) == 2:
                per_card.append(max(times))
        part.measures = {
            "start_ack": Measure.of("B flow:start ack (all at once)", start_acks,
                                    len(part.pairs)),
            "to_head": Measure.of("B card to the head (start -> msg:new)", to_head,
                                  len(cards)),
            "act_ack": Measure.of("B card:act ack (all at once)", acks, len(ready)),
            "update": Measure.of("B card:update to each holder", per_holder, 2 * len(ready),
                                 goal=True),
            "update_card": Measure.of("B card:update to both holders, per card", per_card,
                                      len(ready), goal=True)}

    async def start_leave(self, applicant: str, n: int) -> tuple[str, int, int, int]:
        """A one-day leave of `applicant`: (card id, version, sent, acknowledged)."""
        sent = time.perf_counter_ns()
        answer, acked = await self.clients[applicant].call_timed("flow:start", {
            "flow": "leave", "form": {"leave_type": "annual", "start": _LEAVE_DAY,
                                      "end": _LEAVE_DAY, "reason": f"压力测试 {n + 1}"}})
        data = expect_ok(answer, f"flow:start of {applicant}")
        return str(data["card_id"]), int(data["card"]["version"]), sent, acked

    @staticmethod
    def settle_acts(part: PartB, ready: list[Pending], acted_at: dict[str, int],
                    answers: list[Any]) -> list[int]:
        """The acts' acknowledgement times; the cards' statuses into `part`."""
        acks: list[int] = []
        statuses: Counter[str] = Counter()
        for (card_id, _, _, _), outcome in zip(ready, answers, strict=True):
            if isinstance(outcome, BaseException):
                part.first_error = part.first_error or f"card:act: {_error(outcome)}"
                continue
            answer, acked = outcome
            if not isinstance(answer, dict) or answer.get("ok") is not True:
                part.first_error = part.first_error or f"card:act: {answer!r}"[:300]
                continue
            acks.append(acked - acted_at[card_id])
            statuses[str(answer["data"]["card"]["status"])] += 1
        part.statuses = dict(statuses)
        part.not_approved = len(ready) - statuses["approved"]
        return acks


def _since(start: int, arrivals: dict[str, int]) -> list[int]:
    return [arrived - start for arrived in arrivals.values()]


async def measure(target: XietongTarget, session: aiohttp.ClientSession,
                  options: Options) -> dict[str, Any]:
    began = time.perf_counter()
    log.info("xietong: starting, importing %s", options.org.name)
    await target.start(session)
    token = await target.admin_token(session)
    holders = target.usernames[: options.holders]
    if len(holders) < options.holders:
        raise ValueError(f"--holders {options.holders}: the organisation has only "
                         f"{len(holders)} users")
    storm = Storm(target, session, options)
    pairs = await storm.pick_pairs(token, options.approvers) if options.approvers else []
    people = list(dict.fromkeys([*holders, *(u for pair in pairs for u in pair)]))
    receiver = CallbackReceiver()
    await receiver.start()
    part_a = part_b = None
    try:
        await storm.connect(people)
        setup = time.perf_counter() - began
        log.info("xietong: %d users imported, %d sockets connected in %.1fs",
                 len(target.usernames), len(people), setup)
        if options.rounds:
            part_a = PartA(holders=len(holders))
            await storm.measured(part_a, storm.part_a(token, receiver, holders, part_a))
        if pairs:
            part_b = PartB(pairs=pairs)
            await storm.measured(part_b, storm.part_b(part_b))
    finally:
        await storm.close()
        await receiver.close()
    return {"org_users": len(target.usernames), "sockets": len(people),
            "setup_seconds": setup, "duplicates": storm.inbox.duplicates,
            "callbacks_received": receiver.received,
            "part_a": None if part_a is None else asdict(part_a),
            "part_b": None if part_b is None else asdict(part_b)}


async def run(options: Options) -> dict[str, Any]:
    """Run the scenario against Xietong; return the report document."""
    options.validate()
    harness.require_open_files(options.holders + 2 * options.approvers + 100)
    document: dict[str, Any] = {"scenario": NAME, "options": harness.options_json(options),
                                "server": XietongTarget.name, "goal_ms": GOAL_MS}
    return await harness.run_on_xietong(
        options, document, lambda target, session: measure(target, session, options))


def _parts(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [document[key] for key in ("part_a", "part_b") if document.get(key) is not None]


def failed(document: dict[str, Any]) -> bool:
    """Whether anything was lost, refused or left unapproved (a missed goal is not a
    failure: the table says so)."""
    if document["error"]:
        return True
    for part in _parts(document):
        if part["error"] or part.get("first_error") or part.get("not_approved"):
            return True
        if any(m["lost"] for m in part["measures"].values()):
            return True
    return False


# the report -------------------------------------------------------------------------------

COLUMNS = [
    Column("measure", "label", left=True),
    Column("n", "count"),
    *(Column(f"{key}ms", key, "{:.1f}") for key in ("p50", "p95", "p99", "max")),
    Column("lost", "lost"),
    Column("goal", "goal", left=True),
]
PART_COLUMNS = [
    Column("part", "part", left=True),
    Column("seconds", "seconds", "{:.1f}"),
    *LOAD_COLUMNS,
]
ROUND_COLUMNS = [
    Column("round", "round"),
    Column("delivered", "delivered"),
    Column("post_ms", "post_ms", "{:.0f}"),
    *(Column(f"deliver_{key}", f"deliver_{key}", "{:.1f}") for key in ("p50", "p99", "max")),
    Column("updated", "updated"),
    *(Column(f"update_{key}", f"update_{key}", "{:.1f}") for key in ("p99", "max")),
    Column("error", "error", left=True),
]


def measure_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    goal_ms = document["goal_ms"]
    rows: list[dict[str, Any]] = []
    for part in _parts(document):
        for measure in part["measures"].values():
            ms = measure["ms"]
            row = {**ms, "label": measure["label"], "lost": measure["lost"]}
            if measure["goal"]:
                met = not measure["lost"] and ms["count"] and ms["p99"] <= goal_ms
                row["goal"] = "met" if met else "missed"
            rows.append(row)
    return rows


def round_rows(rounds: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"round": r["index"] + 1, "delivered": r["delivered"], "post_ms": r["post_ms"],
             "deliver_p50": r["delivery_ms"]["p50"], "deliver_p99": r["delivery_ms"]["p99"],
             "deliver_max": r["delivery_ms"]["max"], "updated": r["updated"],
             "update_p99": r["update_ms"]["p99"], "update_max": r["update_ms"]["max"],
             "error": r["error"][:120] if r["error"] else None} for r in rounds]


def format_report(document: dict[str, Any]) -> str:
    options = document["options"]
    head = (f"card-storm on xietong: {options['org']} imported "
            f"({document.get('org_users', '?')} users); A: one card to {options['holders']} "
            f"holders x {options['rounds']} rounds; B: {options['approvers']} heads approve "
            f"at once; goal: p99 <= {document['goal_ms']:g} ms for card:update to every holder")
    if document["error"]:
        return f"{head}\n\nerror: {document['error']}"
    parts = [head, format_table(COLUMNS, measure_rows(document))]
    loads = [{"part": name, **document[key]["load"]}
             for name, key in (("A", "part_a"), ("B", "part_b"))
             if document.get(key) and document[key]["load"]]
    if loads:
        parts.append(format_table(PART_COLUMNS, loads))
    part_a, part_b = document.get("part_a"), document.get("part_b")
    if part_a and part_a["rounds"]:
        parts.append("A by round (ms from the POST, and from the act):\n" +
                     format_table(ROUND_COLUMNS, round_rows(part_a["rounds"])))
    problems = [f"{name}: {part['error']}" for name, part in (("A", part_a), ("B", part_b))
                if part and part["error"]]
    if part_b and part_b["first_error"]:
        problems.append(f"B: the first error: {part_b['first_error']}")
    if part_b and part_b["not_approved"]:
        problems.append(f"B: {part_b['not_approved']} cards did not end approved: "
                        f"{part_b['statuses']}")
    if document.get("duplicates"):
        problems.append(f"{document['duplicates']} pushes came twice")
    if problems:
        parts.append("\n".join(problems))
    return "\n\n".join(parts)


# command line -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Options()
    add = parser.add_argument
    add("--holders", type=int, default=d.holders,
        help="distinct users holding the card of part A (%(default)s)")
    add("--approvers", type=int, default=d.approvers,
        help="department heads approving at once in part B (%(default)s; 0: skip B)")
    add("--rounds", type=int, default=d.rounds,
        help="cards sent in part A, one after another (%(default)s; 0: skip A)")
    add("--timeout", type=float, default=d.timeout,
        help="seconds any one wait may take before what is missing counts as lost")
    harness.add_common_arguments(parser)


def options_from(args: argparse.Namespace) -> Options:
    return Options(**harness.common_options(args), holders=args.holders,
                   approvers=args.approvers, rounds=args.rounds, timeout=args.timeout)


async def main(args: argparse.Namespace) -> int:
    document = await run(options_from(args))
    print(format_report(document))
    return 1 if failed(document) else 0
