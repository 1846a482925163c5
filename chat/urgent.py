"""Urgent messages (DING): each recipient is notified again every interval until they
acknowledge. The schedule lives in MongoDB, so it survives restarts; a notice is claimed by
compare-and-set on its due time, so with many nodes each reminder goes out once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pymongo import ReturnDocument

from chat.changes import Notifier
from chat.models import Message
from core.clock import Clock, iso
from core.mongo import Database
from core.tasks import Periodic

_BATCH = 500

# Is this user still a member who may see this message? (conv_id, user_id) -> bool
MemberCheck = Callable[[str, str], Awaitable[bool]]
MessageLoader = Callable[[list[str]], Awaitable[dict[str, Message]]]


def notice_id(message_id: str, user_id: str) -> str:
    return f"{message_id}|{user_id}"


class UrgentNotices:
    def __init__(self, db: Database, notifier: Notifier, clock: Clock, interval: float) -> None:
        self._notices = db["urgent_notices"]
        self._notifier = notifier
        self._clock = clock
        self.interval = interval
        # Reminders go out within a fifth of the interval (at most 5 s) of falling due.
        self._reminder = Periodic(clock, min(interval / 5, 5.0), self.remind_due,
                                  "urgent reminders")
        self._load_messages: MessageLoader | None = None
        self._is_member: MemberCheck | None = None

    async def ensure_indexes(self) -> None:
        await self._notices.create_index([("acked", 1), ("due", 1)])
        await self._notices.create_index("msg_id")

    def start(self, load_messages: MessageLoader, is_member: MemberCheck) -> None:
        self._load_messages = load_messages
        self._is_member = is_member
        self._reminder.start()

    async def stop(self) -> None:
        await self._reminder.stop()

    async def create(self, message: Message, recipients: Iterable[str]) -> None:
        due = self._clock.time() + self.interval
        docs = [{"_id": notice_id(message.id, u), "msg_id": message.id,
                 "conv_id": message.conv_id, "sender_id": message.sender_id, "user_id": u,
                 "acked": False, "acked_at": None, "due": due, "reminded": 0}
                for u in sorted(set(recipients))]
        if docs:
            await self._notices.insert_many(docs, ordered=False)

    async def ack(self, message: Message, user_id: str) -> bool:
        """True when this acknowledgement was the first; False if it was acknowledged before.
        LookupError when the message was not urgent for this user."""
        doc = await self._notices.find_one_and_update(
            {"_id": notice_id(message.id, user_id), "acked": False},
            {"$set": {"acked": True, "acked_at": iso(self._clock.now())}},
            return_document=ReturnDocument.AFTER)
        if doc is not None:
            return True
        if await self._notices.count_documents({"_id": notice_id(message.id, user_id)}):
            return False
        raise LookupError(message.id)

    async def status(self, message_id: str) -> dict[str, list[str]]:
        acked: list[str] = []
        pending: list[str] = []
        async for doc in self._notices.find({"msg_id": message_id}):
            (acked if doc["acked"] else pending).append(doc["user_id"])
        return {"acked": sorted(acked), "unacked": sorted(pending)}

    async def cancel(self, message_id: str) -> None:
        await self._notices.delete_many({"msg_id": message_id})

    async def remind_due(self) -> None:
        assert self._load_messages is not None and self._is_member is not None
        now = self._clock.time()
        due = [doc async for doc in self._notices.find(
            {"acked": False, "due": {"$lte": now}}).sort("due", 1).limit(_BATCH)]
        if not due:
            return
        messages = await self._load_messages(sorted({d["msg_id"] for d in due}))
        for doc in due:
            message = messages.get(doc["msg_id"])
            if message is None or message.recalled or \
                    not await self._is_member(doc["conv_id"], doc["user_id"]):
                await self._notices.delete_one({"_id": doc["_id"]})
                continue
            claimed = await self._notices.find_one_and_update(
                {"_id": doc["_id"], "due": doc["due"], "acked": False},
                {"$set": {"due": now + self.interval}, "$inc": {"reminded": 1}},
                return_document=ReturnDocument.AFTER)
            if claimed is None:
                continue  # another node sent this reminder, or it was acknowledged
            payload: dict[str, Any] = {"message": message.to_wire(doc["user_id"]),
                                       "reminded": claimed["reminded"]}
            await self._notifier.push([doc["user_id"]], "msg:urgent", payload)
