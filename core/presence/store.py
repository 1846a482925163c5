"""Presence state in Redis.

Keys (under the deployment prefix):
- `presence:user:<uid>` hash: device id -> Device JSON, plus `_manual` when the user set away;
- `presence:status:<uid>`: the last published Snapshot, so pushes happen on change only;
- `presence:hb:<node>`: a node's heartbeat, expiring when the node stops beating;
- `presence:nodes` set of node ids, `presence:node_users:<node>` the users with devices there;
- `presence:pending` sorted set: users whose last device left, with the time to mark them offline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from core.presence.rules import Device, Snapshot
from core.redis import Keys

MANUAL_FIELD = "_manual"

# Update a device only while it still exists, so a late touch cannot resurrect it.
_TOUCH = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local device = cjson.decode(raw)
device['active_at'] = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(device))
return 1
"""


class PresenceStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        # decode_responses=True: every reply is str, which redis-py's stubs cannot express.
        self._redis: Any = redis
        self._keys = keys
        self._touch = redis.register_script(_TOUCH)

    def _user(self, user_id: str) -> str:
        return self._keys("presence", "user", user_id)

    def _status(self, user_id: str) -> str:
        return self._keys("presence", "status", user_id)

    def _node_users(self, node_id: str) -> str:
        return self._keys("presence", "node_users", node_id)

    def _heartbeat(self, node_id: str) -> str:
        return self._keys("presence", "hb", node_id)

    @property
    def _nodes(self) -> str:
        return self._keys("presence", "nodes")

    @property
    def _pending(self) -> str:
        return self._keys("presence", "pending")

    async def add_device(self, user_id: str, device: Device) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._user(user_id), device.id, device.encode())
            pipe.sadd(self._node_users(device.node_id), user_id)
            pipe.sadd(self._nodes, device.node_id)
            pipe.zrem(self._pending, user_id)
            await pipe.execute()

    async def remove_device(self, user_id: str, device_id: str) -> int:
        """Remove one device; returns how many devices the user still has."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._user(user_id), device_id)
            pipe.hlen(self._user(user_id))
            pipe.hexists(self._user(user_id), MANUAL_FIELD)
            _, length, manual = await pipe.execute()
        return int(length) - (1 if manual else 0)

    async def touch(self, user_id: str, device_id: str, now: float) -> bool:
        return bool(await self._touch(keys=[self._user(user_id)], args=[device_id, now]))

    async def set_manual_away(self, user_id: str, away: bool) -> None:
        if away:
            await self._redis.hset(self._user(user_id), MANUAL_FIELD, "away")
        else:
            await self._redis.hdel(self._user(user_id), MANUAL_FIELD)

    async def reconcile(self, user_id: str,
                        decide: Callable[[list[Device], bool], Snapshot]) -> tuple[Snapshot,
                                                                                 Snapshot]:
        """Recompute a user's snapshot from the devices now in Redis and store it.

        Optimistic: if any node changes the user's devices between the read and the write,
        start again, so the stored snapshot always matches the devices of some moment."""
        key, status_key = self._user(user_id), self._status(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    fields = await pipe.hgetall(key)
                    manual = fields.pop(MANUAL_FIELD, None) == "away"
                    devices = [Device.decode(k, v) for k, v in fields.items()]
                    new = decide(devices, manual)
                    pipe.multi()
                    pipe.set(status_key, new.encode(), get=True)
                    if not devices and not manual:
                        pipe.delete(key)
                    (old_raw, *_) = await pipe.execute()
                    return Snapshot.decode(old_raw), new
                except WatchError:
                    continue

    async def get_snapshots(self, user_ids: list[str]) -> dict[str, Snapshot]:
        if not user_ids:
            return {}
        raws = await self._redis.mget([self._status(u) for u in user_ids])
        return {u: Snapshot.decode(raw) for u, raw in zip(user_ids, raws, strict=True)}

    async def get_devices(self, user_id: str) -> list[Device]:
        fields = await self._redis.hgetall(self._user(user_id))
        fields.pop(MANUAL_FIELD, None)
        return [Device.decode(k, v) for k, v in fields.items()]

    # nodes -------------------------------------------------------------------------------

    async def beat(self, node_id: str, ttl_ms: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._heartbeat(node_id), "1", px=ttl_ms)
            pipe.sadd(self._nodes, node_id)
            await pipe.execute()

    async def dead_nodes(self) -> list[str]:
        nodes = sorted(await self._redis.smembers(self._nodes))
        if not nodes:
            return []
        alive = await self._redis.mget([self._heartbeat(n) for n in nodes])
        return [n for n, beat in zip(nodes, alive, strict=True) if beat is None]

    async def drop_node(self, node_id: str) -> list[str]:
        """Remove every device a node held; returns the users who had one there."""
        users = sorted(await self._redis.smembers(self._node_users(node_id)))
        prefix = node_id + ":"
        for user_id in users:
            fields = await self._redis.hkeys(self._user(user_id))
            mine = [f for f in fields if f.startswith(prefix)]
            if mine:
                await self._redis.hdel(self._user(user_id), *mine)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._node_users(node_id), self._heartbeat(node_id))
            pipe.srem(self._nodes, node_id)
            await pipe.execute()
        return users

    async def forget_user_on_node(self, node_id: str, user_id: str) -> None:
        await self._redis.srem(self._node_users(node_id), user_id)

    # deferred offline --------------------------------------------------------------------

    async def schedule_offline(self, user_id: str, due: float) -> None:
        await self._redis.zadd(self._pending, {user_id: due})

    async def claim_due_offline(self, now: float) -> list[str]:
        """Users whose grace has run out; each is handed to exactly one node."""
        due = await self._redis.zrangebyscore(self._pending, "-inf", now)
        claimed = []
        for user_id in due:
            if await self._redis.zrem(self._pending, user_id):
                claimed.append(user_id)
        return claimed
