"""Which instance follows which (a 销假 after its leave), claimed once: of two reports back on
the same leave, sent at the same moment from two devices, one starts and the other is told."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from core.errors import Conflict
from core.mongo import Database


class FollowLinks:
    def __init__(self, db: Database) -> None:
        self._links = db["flow_follows"]

    @staticmethod
    def _id(flow: str, followed: str) -> str:
        return f"{flow}|{followed}"

    async def claim(self, flow: str, followed: str) -> None:
        try:
            await self._links.insert_one({"_id": self._id(flow, followed), "instance": None})
        except DuplicateKeyError as exc:
            raise Conflict(f"form.of: {followed} already has its {flow}") from exc

    async def bind(self, flow: str, followed: str, instance: str) -> None:
        await self._links.update_one({"_id": self._id(flow, followed)},
                                     {"$set": {"instance": instance}})

    async def release(self, flow: str, followed: str) -> None:
        await self._links.delete_one({"_id": self._id(flow, followed)})
