"""Acting substitutes (代理): while set, steps that would go to a person go to their
substitute instead. One substitute per person; a chain of substitutes is not followed (the
substitute of a substitute is not asked), so a loop can never form."""

from __future__ import annotations

from typing import Any

from cards.flows.forms import zoned_time
from core.clock import Clock, iso
from core.errors import BadRequest
from core.mongo import Database


class Delegations:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._delegations = db["delegations"]
        self._clock = clock

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
        found: dict[str, str] = {}
        async for doc in self._delegations.find({"_id": {"$in": user_ids}}):
            if doc.get("until") is None or doc["until"] > now:
                found[doc["_id"]] = doc["to"]
        return found
