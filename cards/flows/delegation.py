"""Acting substitutes (代理): while set, steps that would go to a person go to their
substitute instead. One substitute per person; a chain of substitutes is not followed (the
substitute of a substitute is not asked), so a loop can never form."""

from __future__ import annotations

import asyncio
from typing import Any

from cards.flows.forms import zoned_time
from core.batching import BatchReader
from core.clock import Clock, iso
from core.errors import BadRequest
from core.mongo import Database


class Delegations:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._delegations = db["delegations"]
        self._clock = clock
        # Every step of every flow asks: the questions of acts arriving together go together.
        self._reader = BatchReader(self._delegations)

    async def set(self, user_id: str, substitute: str | None, until: str | None) -> dict[str, Any]:
        if substitute is None:
            await self._delegations.delete_one({"_id": user_id})
            return {"substitute": None, "until": None}
        if substitute == user_id:
            raise BadRequest("to: someone other than yourself")
        if until is not None:
            until = iso(zoned_time(until, "until"))
        await self._delegations.replace_one({"_id": user_id},
                                            {"_id": user_id, "to": substitute, "until": until},
                                            upsert=True)
        return {"substitute": substitute, "until": until}

    async def substitutes(self, user_ids: list[str]) -> dict[str, str]:
        """Who acts for each of these people now (only those who have someone)."""
        if not user_ids:
            return {}
        now = iso(self._clock.now())
        docs = await asyncio.gather(*(self._reader.get(u) for u in dict.fromkeys(user_ids)))
        return {doc["_id"]: doc["to"] for doc in docs
                if doc is not None and (doc.get("until") is None or doc["until"] > now)}
