"""Each user's durable change feed (PROTOCOL §3 `changes:since`).

Cursors are dense per user (a Redis counter), so a reader can tell an event still being
written (a fresh gap: stop before it) from a write that failed (a gap older than a few
seconds: step over it). A cursor string also says when it was issued; one older than the
retention may have missed events that have since expired, so it is `gone`."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import DESCENDING, InsertOne
from redis.asyncio import Redis

from core.batching import BulkWriter, ScriptBatch
from core.bus import DomainEvent, EventBus
from core.clock import Clock, iso
from core.errors import BadRequest, Gone
from core.mongo import Database
from core.redis import Keys

GAP_SETTLE_SECONDS = 3.0
# Issued cursors lose validity a little before the events expire, for clock skew.
_RETENTION_MARGIN_SECONDS = 60.0

# Next cursor for each user key, or -1 where the counter is missing (seed it first).
_NEXT = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then out[i] = redis.call('INCR', key) else out[i] = -1 end
end
return out
"""


@dataclass(frozen=True)
class FeedPage:
    events: list[dict[str, Any]]
    cursor: str
    has_more: bool

    def to_wire(self) -> dict[str, Any]:
        return {"events": self.events, "cursor": self.cursor, "has_more": self.has_more}


class ChangeFeed:
    def __init__(self, db: Database, redis: Redis, keys: Keys, clock: Clock,
                 retention: float) -> None:
        self._changes = db["changes"]
        self._writer = BulkWriter(self._changes)
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._retention = retention
        # The keys of many events at once (a burst of acts) go as one call of the script.
        self._next = ScriptBatch(redis.register_script(_NEXT))

    async def ensure_indexes(self) -> None:
        await self._changes.create_index([("user_id", 1), ("cursor", 1)], unique=True)
        await self._changes.create_index("at", expireAfterSeconds=int(self._retention))

    def _key(self, user_id: str) -> str:
        return self._keys("chat", "feed", user_id)

    async def _allocate(self, user_ids: list[str]) -> list[int]:
        cursors = [int(c) for c in await self._next.call([self._key(u) for u in user_ids])]
        missing = [u for u, c in zip(user_ids, cursors, strict=True) if c < 0]
        if not missing:
            return cursors
        for user_id in missing:
            await self._seed(user_id)
        again = dict(zip(missing, [int(c) for c in await self._next.call(
            [self._key(u) for u in missing])], strict=True))
        return [again.get(u, c) if c < 0 else c for u, c in zip(user_ids, cursors, strict=True)]

    async def _seed(self, user_id: str) -> None:
        """Start past every cursor ever issued: past the stored maximum, and (the stored
        events may have expired) past the current time in milliseconds, which no counter
        running at fewer than 1,000 events a second per user has reached."""
        doc = await self._changes.find_one({"user_id": user_id}, {"cursor": 1},
                                           sort=[("cursor", DESCENDING)])
        stored = int(doc["cursor"]) if doc else 0
        await self._redis.set(self._key(user_id), max(stored, int(self._clock.time() * 1000)),
                              nx=True)

    async def append(self, user_ids: Iterable[str], event: str, data: dict[str, Any]) -> None:
        await self.write(await self.stage(user_ids, event, data))

    async def stage(self, user_ids: Iterable[str], event: str,
                    data: dict[str, Any]) -> list[dict[str, Any]]:
        """The event's documents, one per user, each with its cursor already taken."""
        users = sorted(set(user_ids))
        if not users:
            return []
        cursors = await self._allocate(users)
        at = self._clock.now()
        return [{"_id": f"{u}|{c}", "user_id": u, "cursor": c, "event": event, "data": data,
                 "at": at, "ts": iso(at)} for u, c in zip(users, cursors, strict=True)]

    async def write(self, docs: list[dict[str, Any]]) -> None:
        # Through the shared writer: the feed entries of many events at once (a burst of
        # acts, each with a few holders) reach the store as a few bulk writes.
        await asyncio.gather(*(self._writer.write(InsertOne(doc)) for doc in docs))

    def _issue(self, cursor: int) -> str:
        return f"{cursor}.{math.floor(self._clock.time())}"

    def _parse(self, raw: str) -> int:
        try:
            cursor_text, issued_text = raw.split(".")
            cursor, issued = int(cursor_text), int(issued_text)
        except ValueError as exc:
            raise BadRequest("cursor: not a cursor this server issued") from exc
        if self._clock.time() - issued > self._retention - _RETENTION_MARGIN_SECONDS:
            raise Gone("cursor: older than the change feed keeps; reload and start afresh")
        return cursor

    async def current(self, user_id: str) -> str:
        value = await self._redis.get(self._key(user_id))
        if value is None:
            await self._seed(user_id)
            value = await self._redis.get(self._key(user_id))
        return self._issue(int(value or 0))

    async def since(self, user_id: str, raw_cursor: str | None, limit: int) -> FeedPage:
        if raw_cursor is None:
            return FeedPage([], await self.current(user_id), False)
        position = self._parse(raw_cursor)
        cursor = self._changes.find({"user_id": user_id, "cursor": {"$gt": position}}) \
            .sort("cursor", 1).limit(limit + 1)
        docs = [doc async for doc in cursor]
        settled_before = self._clock.now() - timedelta(seconds=GAP_SETTLE_SECONDS)
        events: list[dict[str, Any]] = []
        blocked = False
        for doc in docs[:limit]:
            at = doc["at"]
            if doc["cursor"] != position + 1 and at > settled_before:
                blocked = True  # an earlier event is still being written
                break
            position = int(doc["cursor"])
            events.append({"cursor": self._issue(position), "event": doc["event"],
                           "data": doc["data"], "ts": doc["ts"]})
        has_more = not blocked and len(docs) > limit
        return FeedPage(events, self._issue(position), has_more)


class Notifier:
    """Pushes an event to its audience and, where it must survive a disconnect, records it
    in each recipient's change feed.

    The cursors are taken first, the push goes out, then the feed documents are written: a
    1,000-holder card's documents take the store hundreds of milliseconds, which the push
    need not wait for. A reader of the feed meanwhile stops before the cursors still being
    written (see ChangeFeed), so it never skips one; a client that got the push but
    reconnects before the write lands reads the event from the feed a moment later."""

    def __init__(self, feed: ChangeFeed, bus: EventBus) -> None:
        self._feed = feed
        self._bus = bus

    async def durable(self, audience: Iterable[str], event: str, data: dict[str, Any]) -> None:
        await self.durable_many([(audience, event, data)])

    async def durable_many(self, events: list[tuple[Iterable[str], str,
                                                    dict[str, Any]]]) -> None:
        """Several events at once: every push before any feed write."""
        docs: list[dict[str, Any]] = []
        pushes = []
        for audience, event, data in events:
            users = frozenset(audience)
            docs += await self._feed.stage(users, event, data)
            pushes.append(DomainEvent(event, data, audience=users))
        for pushed in pushes:
            await self._bus.publish(pushed)
        await self._feed.write(docs)

    async def push(self, audience: Iterable[str], event: str, data: dict[str, Any]) -> None:
        users = frozenset(audience)
        if users:
            await self._bus.publish(DomainEvent(event, data, audience=users))
