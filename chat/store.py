"""Conversations and memberships in MongoDB. A conversation's member list changes only by
compare-and-set on its `version`, so concurrent managers never lose each other's changes and
the member limit holds exactly; each user's standing lives in its own membership document."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from chat.models import Conversation, Membership, membership_id
from core.mongo import Database, Document


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self._conversations = db["conversations"]
        self._memberships = db["memberships"]

    async def ensure_indexes(self) -> None:
        await self._memberships.create_index([("user_id", 1), ("active", 1)])
        await self._memberships.create_index([("conv_id", 1), ("active", 1)])

    async def get(self, conv_id: str) -> Conversation | None:
        doc = await self._conversations.find_one({"_id": conv_id})
        return Conversation.from_doc(doc) if doc else None

    async def get_many(self, conv_ids: Iterable[str]) -> dict[str, Conversation]:
        ids = list(conv_ids)
        if not ids:
            return {}
        return {doc["_id"]: Conversation.from_doc(doc)
                async for doc in self._conversations.find({"_id": {"$in": ids}})}

    async def insert(self, conversation: Conversation) -> bool:
        """False when a conversation with this id exists (the other creator won)."""
        try:
            await self._conversations.insert_one(conversation.to_doc())
        except DuplicateKeyError:
            return False
        return True

    async def replace_if_version(self, before: Conversation, after: Conversation) -> bool:
        """Store `after` only if nobody changed the conversation since `before` was read."""
        doc = after.to_doc()
        doc.pop("_id")
        doc["version"] = before.version + 1
        updated = await self._conversations.find_one_and_update(
            {"_id": before.id, "version": before.version}, {"$set": doc},
            projection={"_id": 1}, return_document=ReturnDocument.AFTER)
        return updated is not None

    async def department_groups(self) -> list[Conversation]:
        cursor = self._conversations.find({"type": "department", "dissolved": False})
        return [Conversation.from_doc(doc) async for doc in cursor]

    # memberships ---------------------------------------------------------------------------

    async def get_membership(self, conv_id: str, user_id: str) -> Membership | None:
        doc = await self._memberships.find_one({"_id": membership_id(conv_id, user_id)})
        return Membership.from_doc(doc) if doc else None

    async def memberships_of_user(self, user_id: str) -> list[Membership]:
        cursor = self._memberships.find({"user_id": user_id, "active": True})
        return [Membership.from_doc(doc) async for doc in cursor]

    async def memberships_of_user_in(self, user_id: str,
                                     conv_ids: Iterable[str]) -> dict[str, Membership]:
        ids = [membership_id(c, user_id) for c in conv_ids]
        cursor = self._memberships.find({"_id": {"$in": ids}})
        return {doc["conv_id"]: Membership.from_doc(doc) async for doc in cursor}

    async def members_of(self, conv_id: str) -> list[Membership]:
        cursor = self._memberships.find({"conv_id": conv_id, "active": True})
        return [Membership.from_doc(doc) async for doc in cursor]

    async def activate(self, conv_id: str, user_ids: Iterable[str], joined_seq: int, *,
                       reset: bool) -> None:
        """Make users members from `joined_seq` on. `reset` starts a returning member afresh;
        without it an existing membership keeps its cursors (repeating a creation is safe)."""
        fields = {"joined_seq": joined_seq, "read_seq": joined_seq}
        updates = [UpdateOne(
            {"_id": membership_id(conv_id, user_id)},
            {"$set": {"conv_id": conv_id, "user_id": user_id, "active": True,
                      **(fields if reset else {})},
             **({} if reset else {"$setOnInsert": fields})},
            upsert=True) for user_id in user_ids]
        if updates:
            await self._memberships.bulk_write(updates, ordered=False)

    async def deactivate(self, conv_id: str, user_ids: Iterable[str]) -> None:
        ids = [membership_id(conv_id, u) for u in user_ids]
        if ids:
            await self._memberships.update_many({"_id": {"$in": ids}},
                                                {"$set": {"active": False}})

    async def advance_read(self, conv_id: str, user_id: str, seq: int) -> int | None:
        """Move the read cursor forward to `seq`; the cursor before, or None if it was already
        there (two devices reading at once both succeed, the cursor never goes back)."""
        before: Document | None = await self._memberships.find_one_and_update(
            {"_id": membership_id(conv_id, user_id), "active": True, "read_seq": {"$lt": seq}},
            {"$set": {"read_seq": seq}}, projection={"read_seq": 1},
            return_document=ReturnDocument.BEFORE)
        return int(before["read_seq"]) if before else None
