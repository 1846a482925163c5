"""Fan-out between nodes: python-socketio's Redis manager, with an owner that can stop it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import socketio


class RedisFanout(socketio.AsyncRedisManager):  # type: ignore[misc]
    """AsyncRedisManager whose listener task and connections are closed on shutdown
    (the library leaves them running, and they retry forever once Redis is gone)."""

    def _redis_connect(self) -> None:
        # The library builds a new client each time its publisher or listener (re)connects and
        # drops the old one unclosed; keep one client (its pool reconnects by itself) and
        # replace only the subscription.
        redis: Any = getattr(self, "redis", None)
        if redis is None:
            super()._redis_connect()
            return
        old: Any = getattr(self, "pubsub", None)
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True
        if old is not None:
            self._closing = asyncio.ensure_future(old.aclose())

    async def close(self) -> None:
        thread: Any = getattr(self, "thread", None)
        if isinstance(thread, asyncio.Task):
            thread.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await thread
        pubsub: Any = getattr(self, "pubsub", None)
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        redis: Any = getattr(self, "redis", None)
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.aclose()
