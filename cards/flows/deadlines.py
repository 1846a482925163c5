"""Step deadlines: a reminder to those who must act before the step falls due, and after it an
escalation to their superior. The schedule lives in MongoDB (it survives restarts) and each
notice is claimed by compare-and-set, so with many nodes it goes out once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import ReturnDocument

from core.clock import Clock
from core.mongo import Database
from core.tasks import Periodic

_BATCH = 200
# Remind this long before the deadline, or at four fifths of a shorter step.
_REMIND_BEFORE_SECONDS = 2 * 3600.0

# What to do with a due entry: (entry, "remind" | "escalate") -> None.
Notice = Callable[[dict[str, Any], str], Awaitable[None]]


class Deadlines:
    def __init__(self, db: Database, clock: Clock, check_every: float = 5.0) -> None:
        self._deadlines = db["flow_deadlines"]
        self._clock = clock
        self._notice: Notice | None = None
        self._checker = Periodic(clock, check_every, self.check, "flow deadlines")

    def start(self, notice: Notice) -> None:
        self._notice = notice
        self._checker.start()

    async def stop(self) -> None:
        await self._checker.stop()

    async def set(self, card_id: str, step: str, people: list[str], hours: float) -> None:
        now = self._clock.time()
        span = hours * 3600
        due = now + span
        remind_at = due - min(_REMIND_BEFORE_SECONDS, span / 5)
        await self._deadlines.replace_one(
            {"_id": card_id},
            {"_id": card_id, "step": step, "people": people, "due": due,
             "remind_at": remind_at, "reminded": False, "escalated": False}, upsert=True)

    async def clear(self, card_id: str) -> None:
        await self._deadlines.delete_one({"_id": card_id})

    async def check(self) -> None:
        assert self._notice is not None
        now = self._clock.time()
        for kind, field, flag in (("remind", "remind_at", "reminded"),
                                  ("escalate", "due", "escalated")):
            due = [doc async for doc in self._deadlines.find(
                {flag: False, field: {"$lte": now}}).limit(_BATCH)]
            for doc in due:
                claimed = await self._deadlines.find_one_and_update(
                    {"_id": doc["_id"], flag: False, "step": doc["step"]},
                    {"$set": {flag: True}}, return_document=ReturnDocument.AFTER)
                if claimed is not None:
                    await self._notice(claimed, kind)
