"""Messages in MongoDB: unique per (conversation, seq) and per (sender, client_msg_id)."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo import DESCENDING, InsertOne, ReturnDocument
from pymongo.errors import DuplicateKeyError

from chat.models import Message
from chat.search import index_terms
from core.batching import BulkWriter
from core.mongo import Database, Document

_WITHOUT_TERMS = {"terms": 0}


class DuplicateSeq(Exception):
    """The seq was already stored: the counter in Redis was behind the store."""


class DuplicateClientId(Exception):
    """This sender already stored a message with this client_msg_id."""


class MessageStore:
    def __init__(self, db: Database) -> None:
        self._messages = db["messages"]
        self._writer = BulkWriter(self._messages)

    async def ensure_indexes(self) -> None:
        await self._messages.create_index([("conv_id", 1), ("seq", 1)], unique=True)
        await self._messages.create_index([("sender_id", 1), ("client_msg_id", 1)],
                                          unique=True)
        await self._messages.create_index("terms")

    async def insert(self, message: Message) -> None:
        try:
            await self._writer.write(InsertOne(message.to_doc(index_terms(message.text))))
        except DuplicateKeyError as exc:
            if "client_msg_id" in str(exc):
                raise DuplicateClientId from exc
            raise DuplicateSeq from exc

    async def get(self, message_id: str) -> Message | None:
        doc = await self._messages.find_one({"_id": message_id}, _WITHOUT_TERMS)
        return Message.from_doc(doc) if doc else None

    async def get_many(self, message_ids: Iterable[str]) -> dict[str, Message]:
        ids = list(message_ids)
        if not ids:
            return {}
        cursor = self._messages.find({"_id": {"$in": ids}}, _WITHOUT_TERMS)
        return {doc["_id"]: Message.from_doc(doc) async for doc in cursor}

    async def get_by_client_id(self, sender_id: str, client_msg_id: str) -> Message | None:
        doc = await self._messages.find_one({"sender_id": sender_id,
                                             "client_msg_id": client_msg_id}, _WITHOUT_TERMS)
        return Message.from_doc(doc) if doc else None

    async def max_seq(self, conv_id: str) -> int:
        doc = await self._messages.find_one({"conv_id": conv_id}, {"seq": 1},
                                            sort=[("seq", DESCENDING)])
        return int(doc["seq"]) if doc else 0

    async def latest(self, conv_id: str) -> Message | None:
        doc = await self._messages.find_one({"conv_id": conv_id}, _WITHOUT_TERMS,
                                            sort=[("seq", DESCENDING)])
        return Message.from_doc(doc) if doc else None

    async def history(self, conv_id: str, *, after: int, before: int | None,
                      limit: int) -> list[Message]:
        """Newest first, seq in (after, before)."""
        seq: dict[str, int] = {"$gt": after}
        if before is not None:
            seq["$lt"] = before
        cursor = (self._messages.find({"conv_id": conv_id, "seq": seq}, _WITHOUT_TERMS)
                  .sort("seq", DESCENDING).limit(limit))
        return [Message.from_doc(doc) async for doc in cursor]

    async def since(self, ranges: dict[str, int], limit: int) -> list[Message]:
        """Messages after each conversation's seq, each conversation's oldest first."""
        if not ranges:
            return []
        clauses = [{"conv_id": c, "seq": {"$gt": s}} for c, s in sorted(ranges.items())]
        query = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        cursor = (self._messages.find(query, _WITHOUT_TERMS)
                  .sort([("conv_id", 1), ("seq", 1)]).limit(limit))
        return [Message.from_doc(doc) async for doc in cursor]

    async def senders_between(self, conv_id: str, after: int, upto: int,
                              limit: int = 5000) -> list[tuple[int, str]]:
        cursor = (self._messages.find({"conv_id": conv_id, "seq": {"$gt": after, "$lte": upto}},
                                      {"seq": 1, "sender_id": 1})
                  .sort("seq", DESCENDING).limit(limit))
        return [(int(doc["seq"]), doc["sender_id"]) async for doc in cursor]

    async def count_unread(self, conv_id: str, user_id: str, after: int) -> int:
        return await self._messages.count_documents(
            {"conv_id": conv_id, "seq": {"$gt": after}, "sender_id": {"$ne": user_id},
             "recalled": False})

    async def recall(self, message_id: str, by: str, at: str) -> Message | None:
        """Drop the content and keep who recalled it and when; None if already recalled."""
        doc = await self._messages.find_one_and_update(
            {"_id": message_id, "recalled": False},
            {"$set": {"recalled": True, "recalled_by": by, "recalled_at": at, "text": "",
                      "terms": [], "file": None, "card": None, "mentions": [],
                      "mention_users": [], "mention_all": False}},
            projection=_WITHOUT_TERMS, return_document=ReturnDocument.AFTER)
        return Message.from_doc(doc) if doc else None

    async def edit(self, message_id: str, text: str, at: str) -> Message | None:
        doc = await self._messages.find_one_and_update(
            {"_id": message_id, "recalled": False},
            {"$set": {"text": text, "terms": index_terms(text), "edited_at": at}},
            projection=_WITHOUT_TERMS, return_document=ReturnDocument.AFTER)
        return Message.from_doc(doc) if doc else None

    async def search(self, conv_floors: dict[str, int], terms: list[str],
                     limit: int) -> list[Message]:
        """Candidates holding every term, newest first, in the conversations given (each only
        after its visibility floor)."""
        clauses: list[Document] = [{"conv_id": c, "seq": {"$gt": f}}
                                   for c, f in sorted(conv_floors.items())]
        if not clauses or not terms:
            return []
        scope = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        query = {"$and": [scope, {"terms": {"$all": terms}}, {"recalled": False}]}
        cursor = (self._messages.find(query, _WITHOUT_TERMS).sort("ts", DESCENDING)
                  .limit(limit))
        return [Message.from_doc(doc) async for doc in cursor]
