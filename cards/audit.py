"""A hash-chained audit log per flow instance.

Entry n holds the hash of entry n-1; its own hash covers that and its content. An entry is
appended by inserting slot n+1 with a unique `_id`: of two parallel sign-offs one takes the
slot and the other re-reads the head and takes the next, so the chain never forks. Editing,
removing or reordering any stored entry breaks verification at that entry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from core.clock import Clock, iso
from core.errors import Conflict
from core.mongo import Database, Document

GENESIS = "0" * 64
_APPEND_ATTEMPTS = 50


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    entries: list[dict[str, Any]]
    verified: bool
    broken_at: int | None

    def to_wire(self) -> dict[str, Any]:
        return {"entries": self.entries, "verified": self.verified,
                "broken_at": self.broken_at}


class AuditLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._entries = db["flow_audit"]
        self._clock = clock

    async def ensure_indexes(self) -> None:
        await self._entries.create_index([("instance_id", 1), ("n", 1)])

    async def append(self, instance_id: str, actor_id: str, event: str,
                     detail: dict[str, Any]) -> int:
        entry = {"actor_id": actor_id, "event": event, "detail": detail,
                 "at": iso(self._clock.now())}
        for _ in range(_APPEND_ATTEMPTS):
            head = await self._entries.find_one({"instance_id": instance_id},
                                                sort=[("n", DESCENDING)])
            n = int(head["n"]) + 1 if head else 1
            prev = head["hash"] if head else GENESIS
            try:
                await self._entries.insert_one({
                    "_id": f"{instance_id}|{n:08d}", "instance_id": instance_id, "n": n,
                    "prev_hash": prev, "hash": entry_hash(prev, entry), "entry": entry})
            except DuplicateKeyError:
                continue  # another append took slot n: chain onto it
            return n
        raise Conflict(f"the audit log of {instance_id} is busy; try again")

    async def verify(self, instance_id: str) -> Verification:
        docs: list[Document] = [d async for d in self._entries.find(
            {"instance_id": instance_id}).sort("n", 1)]
        prev = GENESIS
        broken: int | None = None
        for expected, doc in enumerate(docs, start=1):
            if doc["n"] != expected or doc["prev_hash"] != prev or \
                    doc["hash"] != entry_hash(prev, doc["entry"]):
                broken = expected
                break
            prev = doc["hash"]
        entries = [{"n": d["n"], "prev_hash": d["prev_hash"], "hash": d["hash"], **d["entry"]}
                   for d in docs]
        return Verification(entries, broken is None, broken)
