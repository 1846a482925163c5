"""Fixed-window counters in Redis, shared by every node."""

from __future__ import annotations

import math

from redis.asyncio import Redis

from core.redis import Keys


class WindowCounter:
    def __init__(self, redis: Redis, keys: Keys, name: str, limit: int, window: float) -> None:
        self._redis = redis
        self._keys = keys
        self._name = name
        self.limit = limit
        self.window = window

    def _key(self, subject: str) -> str:
        return self._keys("rl", self._name, subject)

    async def exceeded(self, subject: str) -> float | None:
        """Seconds until the window reopens when the limit is reached, else None."""
        key = self._key(subject)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            count, ttl_ms = await pipe.execute()
        if count is not None and int(count) >= self.limit:
            return max(ttl_ms, 0) / 1000 if ttl_ms and ttl_ms > 0 else self.window
        return None

    async def hit(self, subject: str) -> None:
        key = self._key(subject)
        async with self._redis.pipeline(transaction=True) as pipe:
            # SET NX EX starts the window once (EXPIRE NX needs Redis 7; we support 6.2).
            pipe.set(key, 0, ex=math.ceil(self.window), nx=True)
            pipe.incr(key)
            await pipe.execute()

    async def reset(self, subject: str) -> None:
        await self._redis.delete(self._key(subject))
