"""room-grid: meeting rooms at the scale of a city government (issue 5). Goals: the day grid
of a building and a filtered search with a free window answer at p99 <= 50 ms with 1,000 rooms
holding a month of bookings; 100 requests racing for one slot make exactly one booking.

    python -m loadtest room-grid [--rooms 1000] [--buildings 20] [--series 4] [--days 30]
                                 [--queries 300] [--racers 100] [--out F]

Set-up, through REST as staff would: the admin creates `--rooms` rooms spread over
`--buildings` buildings (capacities 6 to 120, mixed equipment, open 08:00-20:00); then
`--series` daily series of `--days` occurrences per room, booked by users of the imported
organisation, fill each room's month (about four meetings a day).

Measured one request at a time (the latency a person sees, not throughput): the day grid of
one building on a random day of the month; a search by minimum capacity, two pieces of
equipment and a free hour on a random day (every third also names a building); and, for
comparison, the whole deployment's day grid. Then `--racers` users post the same slot at once:
exactly one may win, the rest get `conflict`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp

from loadtest import harness
from loadtest.procs import CpuMeter
from loadtest.report import Column, Summary, format_table
from loadtest.servers import XietongTarget, bearer

log = logging.getLogger("loadtest.room_grid")

NAME = "room-grid"
HELP = "meeting rooms: day grid and filtered search over 1,000 booked rooms; racing bookings"
GOAL_MS = 50.0
TZ = ZoneInfo("Asia/Shanghai")
EQUIPMENT = ("projector", "screen_share", "video_conf", "microphone", "whiteboard",
             "wired_network", "wifi")
CAPACITIES = (6, 8, 10, 12, 16, 20, 30, 50, 80, 120)
# Local start hours of a room's daily series (one each); an hour long.
SERIES_HOURS = (8, 10, 13, 15, 17, 18)
_MS = 1e3


@dataclass(frozen=True)
class Options(harness.CommonOptions):
    rooms: int = 1000
    buildings: int = 20
    series: int = 4
    days: int = 30
    queries: int = 300
    racers: int = 100
    concurrency: int = 16
    seed: int = 5

    def validate(self) -> None:
        if self.rooms < 1 or self.buildings < 1 or self.queries < 1:
            raise ValueError("--rooms, --buildings and --queries must be at least 1")
        if not 0 <= self.series <= len(SERIES_HOURS):
            raise ValueError(f"--series: 0 to {len(SERIES_HOURS)}")
        if not 1 <= self.days <= 60:
            raise ValueError("--days: 1 to 60")
        if self.racers < 2 or self.concurrency < 1:
            raise ValueError("--racers must be at least 2 and --concurrency at least 1")


async def _call(session: aiohttp.ClientSession, method: str, url: str, token: str,
                body: Any = None) -> tuple[int, Any]:
    async with session.request(method, url, json=body, headers=bearer(token),
                               timeout=aiohttp.ClientTimeout(total=120)) as response:
        return response.status, await response.json(content_type=None)


async def _bounded(concurrency: int, jobs: list[Any]) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


class Grid:
    def __init__(self, target: XietongTarget, session: aiohttp.ClientSession,
                 options: Options) -> None:
        self.target = target
        self.session = session
        self.options = options
        self.random = random.Random(options.seed)  # noqa: S311 - a reproducible workload, not a secret
        self.first_day = datetime.now(TZ).date() + timedelta(days=1)
        self.rooms: list[dict[str, Any]] = []
        self.buildings = [f"压测楼{n:02d}" for n in range(options.buildings)]

    def url(self, path: str, **query: Any) -> str:
        shown = {k: v for k, v in query.items() if v is not None}
        return f"{self.target.base_url}{path}" + (f"?{urlencode(shown)}" if shown else "")

    async def create_rooms(self, admin: str) -> None:
        def body(n: int) -> dict[str, Any]:
            kit = self.random.sample(EQUIPMENT, self.random.randint(1, 5))
            return {"name": f"会议室 {n:04d}", "building": self.buildings[n % len(self.buildings)],
                    "floor": str(1 + n // 100 % 20), "capacity": self.random.choice(CAPACITIES),
                    "equipment": kit, "open_hours": {"start": "08:00", "end": "20:00"},
                    "window_days": 90}

        async def create(n: int) -> dict[str, Any]:
            status, answer = await _call(self.session, "POST", self.url("/api/v1/rooms"),
                                         admin, body(n))
            if status != 201:
                raise RuntimeError(f"creating room {n}: {status} {answer}")
            return answer["room"]  # type: ignore[no-any-return]

        self.rooms = await _bounded(self.options.concurrency,
                                    [create(n) for n in range(self.options.rooms)])

    async def book_month(self, tokens: list[str]) -> int:
        """Each room's daily series; the number of bookings made."""
        def start(hour: int) -> datetime:
            return datetime.combine(self.first_day, datetime.min.time(), tzinfo=TZ) + \
                timedelta(hours=hour)

        async def book(index: int, room: dict[str, Any], hour: int) -> int:
            begin = start(hour)
            status, answer = await _call(
                self.session, "POST", self.url("/api/v1/bookings"), tokens[index % len(tokens)],
                {"room_id": room["id"], "title": f"例会 {hour}:00", "start": begin.isoformat(),
                 "end": (begin + timedelta(minutes=50)).isoformat(),
                 "recurrence": {"freq": "daily", "count": self.options.days}})
            if status != 201:
                raise RuntimeError(f"booking {room['id']} at {hour}: {status} {answer}")
            return len(answer["bookings"])

        # Hour by hour across the rooms, as a month fills up: one room's series are not
        # booked at the same instant.
        jobs = [book(i, room, hour) for hour in SERIES_HOURS[: self.options.series]
                for i, room in enumerate(self.rooms)]
        return sum(await _bounded(self.options.concurrency, jobs))

    def day(self) -> date:
        return self.first_day + timedelta(days=self.random.randrange(self.options.days))

    async def timed(self, url: str, token: str, key: str) -> tuple[float, int]:
        began = time.perf_counter()
        status, answer = await _call(self.session, "GET", url, token)
        took = time.perf_counter() - began
        if status != 200:
            raise RuntimeError(f"GET {url}: {status} {answer}")
        return took * _MS, len(answer[key])

    async def grids(self, token: str, building: bool) -> tuple[list[float], float]:
        samples, sizes = [], []
        for _ in range(self.options.queries if building else max(10, self.options.queries // 10)):
            url = self.url("/api/v1/rooms/availability", date=self.day().isoformat(),
                           building=self.random.choice(self.buildings) if building else None)
            took, size = await self.timed(url, token, "rooms")
            samples.append(took)
            sizes.append(size)
        return samples, sum(sizes) / len(sizes)

    async def searches(self, token: str) -> tuple[list[float], float]:
        samples, sizes = [], []
        for n in range(self.options.queries):
            hour = self.random.choice((9, 11, 14, 16, 19))
            begin = datetime.combine(self.day(), datetime.min.time(), tzinfo=TZ) + \
                timedelta(hours=hour)
            url = self.url("/api/v1/rooms", min_capacity=self.random.choice(CAPACITIES[:6]),
                           equipment=",".join(self.random.sample(EQUIPMENT, 2)),
                           free_from=begin.isoformat(),
                           free_to=(begin + timedelta(hours=1)).isoformat(),
                           building=self.random.choice(self.buildings) if n % 3 == 0 else None)
            took, size = await self.timed(url, token, "rooms")
            samples.append(took)
            sizes.append(size)
        return samples, sum(sizes) / len(sizes)

    async def race(self, tokens: list[str]) -> dict[str, Any]:
        """Every racer posts an overlapping hour of one room on a day no series uses."""
        room = self.rooms[0]
        day = self.first_day + timedelta(days=self.options.days + 1)
        begin = datetime.combine(day, datetime.min.time(), tzinfo=TZ) + timedelta(hours=12)

        async def post(n: int) -> int:
            start = begin + timedelta(minutes=n % 30)
            status, _ = await _call(self.session, "POST", self.url("/api/v1/bookings"),
                                    tokens[n % len(tokens)],
                                    {"room_id": room["id"], "title": f"抢 {n}",
                                     "start": start.isoformat(),
                                     "end": (start + timedelta(minutes=40)).isoformat()})
            return status

        statuses = Counter(await asyncio.gather(*(post(n) for n in range(self.options.racers))))
        status, answer = await _call(
            self.session, "GET",
            self.url("/api/v1/bookings", room_id=room["id"], **{
                "from": begin.isoformat(), "to": (begin + timedelta(hours=2)).isoformat()}),
            tokens[0])
        held = len(answer["bookings"]) if status == 200 else -1
        return {"created": statuses.get(201, 0), "conflicts": statuses.get(409, 0),
                "other": sum(v for k, v in statuses.items() if k not in (201, 409)),
                "held": held}


async def measure(target: XietongTarget, session: aiohttp.ClientSession,
                  options: Options) -> dict[str, Any]:
    log.info("xietong: starting, importing %s", options.org.name)
    await target.start(session)
    admin = await target.admin_token(session)
    people = await target.login_many(session, target.usernames[: max(options.racers, 50)])
    tokens = [str(p.auth["token"]) for p in people]
    grid = Grid(target, session, options)
    began = time.perf_counter()
    await grid.create_rooms(admin)
    log.info("%d rooms created in %.1fs", len(grid.rooms), time.perf_counter() - began)
    began = time.perf_counter()
    booked = await grid.book_month(tokens)
    booking_seconds = time.perf_counter() - began
    log.info("%d bookings made in %.1fs", booked, booking_seconds)
    meter = CpuMeter(target.pid)
    meter.start()
    building, building_rooms = await grid.grids(tokens[0], building=True)
    search, found = await grid.searches(tokens[1])
    whole, all_rooms = await grid.grids(tokens[2], building=False)
    gen_cpu, srv_cpu = meter.stop()
    race = await grid.race(tokens)
    return {
        "rooms": len(grid.rooms), "bookings": booked, "booking_seconds": booking_seconds,
        "gen_cpu_pct": gen_cpu, "srv_cpu_pct": srv_cpu, "race": race,
        "measures": [
            {"label": f"day grid of one building ({building_rooms:.0f} rooms)", "goal": True,
             "ms": asdict(Summary.of(building))},
            {"label": f"search: capacity, 2 equipment, free hour ({found:.0f} found)",
             "goal": True, "ms": asdict(Summary.of(search))},
            {"label": f"day grid of every room ({all_rooms:.0f} rooms)", "goal": False,
             "ms": asdict(Summary.of(whole))},
        ]}


async def run(options: Options) -> dict[str, Any]:
    options.validate()
    document: dict[str, Any] = {"scenario": NAME, "options": harness.options_json(options),
                                "server": XietongTarget.name, "goal_ms": GOAL_MS}
    return await harness.run_on_xietong(
        options, document, lambda target, session: measure(target, session, options))


def failed(document: dict[str, Any]) -> bool:
    """A run fails when it broke or the race made anything but exactly one booking (a missed
    latency goal is reported, not failed)."""
    race = document.get("race")
    return bool(document["error"]) or race is None or \
        (race["created"], race["held"], race["other"]) != (1, 1, 0)


COLUMNS = [
    Column("measure", "label", left=True),
    Column("n", "count"),
    *(Column(f"{key}ms", key, "{:.1f}") for key in ("p50", "p95", "p99", "max")),
    Column("goal", "goal", left=True),
]


def format_report(document: dict[str, Any]) -> str:
    options = document["options"]
    head = (f"room-grid on xietong: {options['rooms']} rooms in {options['buildings']} "
            f"buildings, {options['series']} daily series x {options['days']} days each; "
            f"goal: p99 <= {document['goal_ms']:g} ms")
    if document["error"]:
        return f"{head}\n\nerror: {document['error']}"
    rows = []
    for measure in document["measures"]:
        row = {**measure["ms"], "label": measure["label"]}
        if measure["goal"]:
            row["goal"] = "met" if measure["ms"]["p99"] <= document["goal_ms"] else "missed"
        rows.append(row)
    race = document["race"]
    return "\n\n".join([
        head,
        f"set-up: {document['bookings']} bookings in {document['booking_seconds']:.0f} s",
        format_table(COLUMNS, rows),
        f"queries: generator {document['gen_cpu_pct']:.0f} % of a core, server "
        f"{document['srv_cpu_pct']:.0f} %",
        f"race: {options['racers']} requests for one slot -> {race['created']} created, "
        f"{race['conflicts']} conflict, {race['other']} other; {race['held']} held"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Options()
    add = parser.add_argument
    add("--rooms", type=int, default=d.rooms, help="rooms created (%(default)s)")
    add("--buildings", type=int, default=d.buildings, help="buildings (%(default)s)")
    add("--series", type=int, default=d.series,
        help=f"daily series per room, 0 to {len(SERIES_HOURS)} (%(default)s)")
    add("--days", type=int, default=d.days, help="occurrences of each series (%(default)s)")
    add("--queries", type=int, default=d.queries,
        help="grids and searches measured, each (%(default)s)")
    add("--racers", type=int, default=d.racers,
        help="requests racing for one slot (%(default)s)")
    add("--concurrency", type=int, default=d.concurrency,
        help="set-up requests in flight at once (%(default)s)")
    add("--seed", type=int, default=d.seed, help="random seed (%(default)s)")
    harness.add_common_arguments(parser)


def options_from(args: argparse.Namespace) -> Options:
    return Options(**harness.common_options(args), rooms=args.rooms, buildings=args.buildings,
                   series=args.series, days=args.days, queries=args.queries,
                   racers=args.racers, concurrency=args.concurrency, seed=args.seed)


async def main(args: argparse.Namespace) -> int:
    document = await run(options_from(args))
    print(format_report(document))
    return 1 if failed(document) else 0
