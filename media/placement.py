"""Media nodes and the meetings placed on them (PROTOCOL §6).

Every node registers as a media node with its load (participants it carries) under a key that
expires unless renewed, so a dead node drops out by itself. A meeting goes to the least loaded
live node at its first join; the choice is one script, so two first joins on two nodes agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from core.redis import Keys

# KEYS[1] meeting -> node; ARGV[1] prefix of node liveness keys, ARGV[2] the load ranking.
_PLACE = """
local current = redis.call('GET', KEYS[1])
if current and redis.call('EXISTS', ARGV[1] .. current) == 1 then return current end
local ranked = redis.call('ZRANGE', ARGV[2], 0, -1)
for _, node in ipairs(ranked) do
  if redis.call('EXISTS', ARGV[1] .. node) == 1 then
    redis.call('SET', KEYS[1], node)
    return node
  end
  redis.call('ZREM', ARGV[2], node)
end
return false
"""

# KEYS[1] meeting -> node; forget the placement only if it still names ARGV[1].
_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class NoMediaNode(Exception):
    pass


class MediaNodes:
    def __init__(self, redis: Redis, keys: Keys, node_id: str, ttl: float,
                 load: Callable[[], int]) -> None:
        self._redis = redis
        self._keys = keys
        self.node_id = node_id
        self._ttl_ms = int(ttl * 1000)
        self._load = load
        self._place: Any = redis.register_script(_PLACE)
        self._forget: Any = redis.register_script(_FORGET)

    def _alive_key(self, node_id: str) -> str:
        return self._keys("media", "node", node_id)

    async def heartbeat(self) -> None:
        load = self._load()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._alive_key(self.node_id), load, px=self._ttl_ms)
            pipe.zadd(self._keys("media", "load"), {self.node_id: load})
            await pipe.execute()

    async def withdraw(self) -> None:
        await self._redis.delete(self._alive_key(self.node_id))
        await self._redis.zrem(self._keys("media", "load"), self.node_id)

    async def place(self, meeting_id: str) -> str:
        node = await self._place(keys=[self._keys("media", "meeting", meeting_id)],
                                 args=[self._alive_key(""), self._keys("media", "load")])
        if not node:
            raise NoMediaNode("no media node is alive")
        return node.decode() if isinstance(node, bytes) else str(node)

    async def alive(self, node_id: str) -> bool:
        return bool(await self._redis.exists(self._alive_key(node_id)))

    async def forget(self, meeting_id: str, node_id: str) -> None:
        await self._forget(keys=[self._keys("media", "meeting", meeting_id)], args=[node_id])
