"""Per-conversation sequence numbers and send idempotency in one Redis round trip.

INCR is atomic, so concurrent senders on any node never share a seq; the counter is seeded
from the highest stored seq when Redis has lost it (messages are stored before they are
published, so the stored maximum is never behind what anyone has seen). The same script
claims `(sender, client_msg_id)`: a second send of it, from another device at the same
moment, learns that the first is under way instead of allocating a second seq."""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from core.redis import Keys

# KEYS: seq counter, claim, conversation version, sender's rate window.
# ARGV: pending-claim ttl seconds, rate limit (0: none), rate window seconds.
# Returns {status, value, version}: status 1 = allocated (value = seq), 0 = claimed by an
# earlier send (value = its message id, or "" while that send is still being stored),
# -1 = counter missing (seed it and retry), -2 = over the rate (value = ms until it reopens).
# One script, so a send costs one round trip before it is stored.
_ALLOCATE = """
if ARGV[2] ~= '0' then
  redis.call('SET', KEYS[4], 0, 'NX', 'EX', ARGV[3])
  if redis.call('INCR', KEYS[4]) > tonumber(ARGV[2]) then
    return {-2, redis.call('PTTL', KEYS[4]), ''}
  end
end
if redis.call('SET', KEYS[2], '', 'NX', 'EX', ARGV[1]) == false then
  return {0, redis.call('GET', KEYS[2]) or '', ''}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return {-1, '', ''}
end
return {1, redis.call('INCR', KEYS[1]), redis.call('GET', KEYS[3]) or ''}
"""

# Versions only move forward, whatever order two nodes report them in.
_RAISE_VERSION = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""

_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('INCR', KEYS[1])
"""

# A claim whose send is still being stored; one that never completes frees the id again.
PENDING_CLAIM_SECONDS = 30
CLAIM_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Allocation:
    seq: int | None = None
    earlier_id: str | None = None  # set (maybe "") when the client_msg_id was claimed before
    version: int | None = None
    needs_seed: bool = False
    retry_after_ms: int | None = None  # set when the sender is over the rate


@dataclass(frozen=True)
class SendRate:
    limit: int
    window: float


class SequenceAllocator:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._allocate = redis.register_script(_ALLOCATE)
        self._raise_version = redis.register_script(_RAISE_VERSION)
        self._incr_existing = redis.register_script(_INCR_EXISTING)

    def _seq_key(self, conv_id: str) -> str:
        return self._keys("chat", "seq", conv_id)

    def _claim_key(self, sender_id: str, client_msg_id: str) -> str:
        return self._keys("chat", "claim", sender_id, client_msg_id)

    def _version_key(self, conv_id: str) -> str:
        return self._keys("chat", "ver", conv_id)

    async def allocate(self, conv_id: str, sender_id: str, client_msg_id: str,
                       rate: SendRate | None = None) -> Allocation:
        status, value, version = await self._allocate(
            keys=[self._seq_key(conv_id), self._claim_key(sender_id, client_msg_id),
                  self._version_key(conv_id), self._keys("rl", "send", sender_id)],
            args=[PENDING_CLAIM_SECONDS, rate.limit if rate else 0,
                  math.ceil(rate.window) if rate else 0])
        status = int(status)
        if status == -2:
            return Allocation(retry_after_ms=max(int(value), 0))
        if status == 0:
            return Allocation(earlier_id=str(value))
        if status < 0:
            return Allocation(needs_seed=True)
        return Allocation(seq=int(value), version=int(version) if version != "" else None)

    async def allocate_system(self, conv_id: str) -> int | None:
        """A seq for a message without a client id (system notices); None: seed first."""
        seq = int(await self._incr_existing(keys=[self._seq_key(conv_id)]))
        return seq if seq >= 0 else None

    async def seed(self, conv_id: str, stored_max: int) -> None:
        await self._redis.set(self._seq_key(conv_id), stored_max, nx=True)

    async def reseed_after_collision(self, conv_id: str, stored_max: int) -> None:
        """The counter was behind the store (Redis lost data): move it past the stored seqs."""
        key = self._seq_key(conv_id)
        current = int(await self._redis.get(key) or 0)
        if current < stored_max:
            await self._redis.incrby(key, stored_max - current)

    def fulfil(self, pipe: Pipeline, sender_id: str, client_msg_id: str,
               message_id: str) -> None:
        """Queue on `pipe`: the claim now names the stored message, for a day."""
        pipe.set(self._claim_key(sender_id, client_msg_id), message_id, xx=True,
                 ex=CLAIM_TTL_SECONDS)

    def pipeline(self) -> Pipeline:
        """Writes to queue together (a fulfilled claim with the new last message)."""
        return self._redis.pipeline(transaction=False)

    async def release(self, sender_id: str, client_msg_id: str) -> None:
        """The claimed send failed before it was stored: a retry may claim it again."""
        await self._redis.delete(self._claim_key(sender_id, client_msg_id))

    async def current(self, conv_ids: list[str]) -> dict[str, int | None]:
        if not conv_ids:
            return {}
        values = await self._redis.mget([self._seq_key(c) for c in conv_ids])
        return {c: int(v) if v is not None else None for c, v in zip(conv_ids, values,
                                                                      strict=True)}

    async def get_version(self, conv_id: str) -> int | None:
        value = await self._redis.get(self._version_key(conv_id))
        return int(value) if value is not None else None

    async def publish_version(self, conv_id: str, version: int) -> None:
        await self._raise_version(keys=[self._version_key(conv_id)], args=[version])
