"""Which rooms are busy when, by local day, in Redis: what the day grid and the free-window
search read.

Derived from the schedules (rooms/booking_store.py), never the truth: one hash per local day,
a field per room holding that day's holding bookings as the grid shows them, tagged with the
schedule version they came from. A write only replaces an older version (one script), so
writers finishing out of order leave the newest. Every node rebuilds it from the schedules
when it starts, so a Redis that lost it fills again.

Why not a query over the bookings' records: the embedded Mongo-wire server evaluates `$in`
and several range conditions by scanning (seconds over a month of 1,000 rooms); one hash
read per day answers in a millisecond whatever the database."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from redis.asyncio import Redis

from core.clock import iso
from core.redis import Keys
from rooms.models import HOLDING, Booking

# A day's entries outlive it by this much (history is in the records).
KEEP_AFTER = timedelta(days=2)

# KEYS[1] the day; ARGV: room id, version, entries (JSON), expiry (epoch seconds).
_SET_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local version = tonumber(string.match(current, '^(%d+)|'))
  if version and version > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return 1
"""


def _entries(raw: bytes | str | None) -> list[dict[str, Any]]:
    if raw is None:
        return []
    text = raw.decode() if isinstance(raw, bytes) else raw
    entries: list[dict[str, Any]] = json.loads(text.split("|", 1)[1])
    return entries


class BusyIndex:
    def __init__(self, redis: Redis, keys: Keys, tz: tzinfo) -> None:
        self._redis = redis
        self._keys = keys
        self._tz = tz
        self._set = redis.register_script(_SET_IF_NEWER)

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self._tz).date()

    def _key(self, day: date) -> str:
        return self._keys("rooms", "busy", day.isoformat())

    async def put(self, room_id: str, version: int, bookings: Iterable[Booking],
                  days: Iterable[date]) -> None:
        """The room's holding bookings on each of `days`, as of schedule `version`."""
        wanted = set(days)
        by_day: dict[date, list[dict[str, Any]]] = {day: [] for day in wanted}
        for booking in sorted(bookings, key=lambda b: (b.start, b.id)):
            day = self.day_of(booking.start)
            if booking.status in HOLDING and day in wanted:
                by_day[day].append({"start": iso(booking.start), "end": iso(booking.end),
                                    "booking_id": booking.id, "status": booking.status.value,
                                    "title": booking.title})
        for day, entries in sorted(by_day.items()):
            expires = datetime.combine(day + KEEP_AFTER, time(), tzinfo=self._tz)
            await self._set(keys=[self._key(day)],
                            args=[room_id, version, json.dumps(entries, ensure_ascii=False),
                                  int(expires.timestamp())])

    async def put_schedule(self, room_id: str, version: int,
                           bookings: Sequence[Booking]) -> None:
        """Every day the schedule has bookings on."""
        await self.put(room_id, version, bookings, {self.day_of(b.start) for b in bookings})

    async def on_days(self, room_ids: Sequence[str],
                      days: Sequence[date]) -> dict[str, list[dict[str, Any]]]:
        """Each room's busy intervals on `days`, in order."""
        found: dict[str, list[dict[str, Any]]] = {r: [] for r in room_ids}
        if not room_ids:
            return found
        async with self._redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hmget(self._key(day), list(room_ids))
            answers = await pipe.execute()
        for values in answers:
            for room_id, raw in zip(room_ids, values, strict=True):
                found[room_id] += _entries(raw)
        return found

    async def busy(self, room_ids: Sequence[str], start: datetime, end: datetime) -> set[str]:
        """Those of `room_ids` with a holding booking overlapping [start, end)."""
        first, last = self.day_of(start), self.day_of(end - timedelta(microseconds=1))
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        # Entries hold times as `iso` writes them, which sort as the times do.
        after, before = iso(start), iso(end)
        return {room_id for room_id, entries in (await self.on_days(room_ids, days)).items()
                if any(e["start"] < before and after < e["end"] for e in entries)}
