"""What `conv:list` shows of each conversation, kept in Redis: its last message (two sends
that finish out of order never let the older one win; a recall rewrites its own entry) and
the last seq each member sent there.

Sending marks everything before it read, as every chat client does. Keeping the sender's
last seq here, in the round trip that records the last message anyway, costs a send nothing;
moving the durable read cursor instead would cost a database write per message. If Redis
loses it, only that implied reading is forgotten: `unread` counts from the stored cursor."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from core.redis import Keys

_SET_IF_NEWER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
if tonumber(ARGV[1]) >= current then
  redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'preview', ARGV[2])
  return 1
end
return 0
"""


class LastMessages:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._set = redis.register_script(_SET_IF_NEWER)

    def _key(self, conv_id: str) -> str:
        return self._keys("chat", "last", conv_id)

    async def put(self, conv_id: str, preview: dict[str, Any],
                  pipe: Pipeline | None = None) -> None:
        """Store now, or queue on `pipe` to go with other writes in one round trip."""
        keys = [self._key(conv_id)]
        args = [preview["seq"], json.dumps(preview, ensure_ascii=False)]
        if pipe is None:
            await self._set(keys=keys, args=args)
        else:
            # EVAL, not a registered script: redis-py checks registered scripts with an
            # extra SCRIPT EXISTS round trip before every pipeline that holds one.
            pipe.eval(_SET_IF_NEWER, len(keys), *keys, *args)

    def _sent_key(self, conv_id: str) -> str:
        return self._keys("chat", "sent", conv_id)

    def note_sent(self, pipe: Pipeline, conv_id: str, user_id: str, seq: int) -> None:
        pipe.hset(self._sent_key(conv_id), user_id, seq)

    async def sent_by(self, user_id: str, conv_ids: list[str]) -> dict[str, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for conv_id in conv_ids:
                pipe.hget(self._sent_key(conv_id), user_id)
            values = await pipe.execute()
        return {c: int(v) for c, v in zip(conv_ids, values, strict=True) if v is not None}

    async def senders(self, conv_id: str) -> dict[str, int]:
        """Each member's last sent seq in the conversation."""
        values = await self._redis.hgetall(self._sent_key(conv_id))
        return {str(user): int(seq) for user, seq in values.items()}

    async def get_many(self, conv_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for conv_id in conv_ids:
                pipe.hget(self._key(conv_id), "preview")
            values = await pipe.execute()
        return {c: json.loads(v) if v else None for c, v in zip(conv_ids, values, strict=True)}
