"""Sending and reading messages: seq allocation, idempotent sends, mentions, history, sync,
read cursors and receipts, recall and edit, typing, search and urgent acknowledgements."""

from __future__ import annotations

import asyncio
import heapq
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bson import ObjectId

from chat.changes import Notifier
from chat.conversations import ConversationService
from chat.files import FileService
from chat.messages import DuplicateClientId, DuplicateSeq, MessageStore
from chat.models import MANAGED_TYPES, SYSTEM_SENDER, Conversation, ConvType, Message
from chat.policy import ChatPolicy
from chat.previews import LastMessages
from chat.receipts import ReceiptBatcher
from chat.search import parse_query, snippet
from chat.sequence import SendRate, SequenceAllocator
from chat.urgent import UrgentNotices
from core.bus import DomainEvent, EventBus
from core.clock import Clock, iso
from core.directory.service import DirectoryService
from core.errors import BadRequest, Forbidden, NotFound, RateLimited, TooLarge, Unavailable

# A second send of a client_msg_id waits this long for the first one to be stored.
_EARLIER_WAIT_SECONDS = 5.0
_EARLIER_POLL_SECONDS = 0.05
_SEQ_ATTEMPTS = 5
_TYPING_EVERY_SECONDS = 2.0


class CardViews(Protocol):
    """How chat renders the cards it carries (the cards service)."""

    async def views(self, viewer: str, card_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    async def views_by_kind(self, card_id: str, viewers: frozenset[str]) -> list[
        tuple[dict[str, Any], set[str]]]: ...


@dataclass(frozen=True)
class Outgoing:
    conv_id: str
    client_msg_id: str
    type: str = "text"
    text: str = ""
    mentions: tuple[str, ...] = ()
    file_id: str | None = None
    urgent: bool = False


@dataclass
class _Resolved:
    users: list[str] = field(default_factory=list)
    all: bool = False


class MessageService:
    def __init__(self, messages: MessageStore, conversations: ConversationService,
                 sequences: SequenceAllocator, previews: LastMessages, files: FileService,
                 receipts: ReceiptBatcher, urgent: UrgentNotices, notifier: Notifier,
                 bus: EventBus, directory: DirectoryService, send_rate: SendRate,
                 clock: Clock, policy: ChatPolicy) -> None:
        self._messages = messages
        self._conversations = conversations
        self._sequences = sequences
        self._previews = previews
        self._files = files
        self._receipts = receipts
        self._urgent = urgent
        self._notifier = notifier
        self._bus = bus
        self._directory = directory
        self._send_rate = send_rate
        self._clock = clock
        self._policy = policy
        self._typing: dict[tuple[str, str], float] = {}
        self._cards: CardViews | None = None
        conversations.set_system_poster(self.post_notice)

    # sending -------------------------------------------------------------------------------

    async def send(self, user_id: str, out: Outgoing) -> Message:
        if len(out.text) > self._policy.text_max:
            raise TooLarge(f"text: longer than {self._policy.text_max} characters")
        if out.type == "text" and not out.text.strip():
            raise BadRequest("text: a text message needs text")
        conversation = await self._writable(out.conv_id, user_id)
        mentions = await self._resolve_mentions(conversation, user_id, out.mentions)
        file = await self._attachment(out, user_id) if out.type == "file" else None

        allocation = None
        for _ in range(_SEQ_ATTEMPTS):
            allocation = await self._sequences.allocate(out.conv_id, user_id, out.client_msg_id,
                                                        self._send_rate)
            if allocation.retry_after_ms is not None:
                raise RateLimited("sending too fast",
                                  {"retry_after_ms": allocation.retry_after_ms})
            if not allocation.needs_seed:
                break
            await self._sequences.seed(out.conv_id, await self._messages.max_seq(out.conv_id))
        if allocation is None or allocation.needs_seed:
            raise Unavailable("could not allocate a sequence number; try again")
        if allocation.earlier_id is not None:
            return await self._earlier(user_id, out.client_msg_id, allocation.earlier_id)
        assert allocation.seq is not None
        try:
            conversation = await self._conversations.get_fresh_enough(out.conv_id,
                                                                      allocation.version)
            self._check_writable(conversation, user_id)
            message = Message(
                id=str(ObjectId()), conv_id=out.conv_id, seq=allocation.seq, sender_id=user_id,
                type=out.type, ts=iso(self._clock.now()), text=out.text,
                client_msg_id=out.client_msg_id, mentions=list(out.mentions),
                mention_users=mentions.users, mention_all=mentions.all, file=file,
                urgent=out.urgent)
            stored = await self._store(message)
        except BaseException:
            await self._sequences.release(user_id, out.client_msg_id)
            raise
        if stored is not message:
            # The same client_msg_id was stored before this claim was taken.
            async with self._sequences.pipeline() as pipe:
                self._sequences.fulfil(pipe, user_id, out.client_msg_id, stored.id)
                await pipe.execute()
            return stored
        await self._after_store(conversation, message, claim=(user_id, out.client_msg_id))
        if out.urgent:
            recipients = (set(message.mention_users) if message.mention_users
                          else conversation.members) - {user_id}
            await self._urgent.create(message, recipients & conversation.members)
        return message

    async def _writable(self, conv_id: str, user_id: str) -> Conversation:
        conversation = self._conversations.cached(conv_id)
        if conversation is None or user_id not in conversation.members:
            conversation = await self._conversations.load(conv_id)
        self._check_writable(conversation, user_id)
        return conversation

    @staticmethod
    def _check_writable(conversation: Conversation, user_id: str) -> None:
        if user_id not in conversation.members:
            raise Forbidden(f"you are not a member of conversation {conversation.id}")
        if conversation.dissolved:
            raise Forbidden(f"conversation {conversation.id} was dissolved")
        if conversation.type == ConvType.NOTIFICATIONS:
            raise Forbidden("work notifications are written by the system")

    async def _store(self, message: Message) -> Message:
        """Insert, moving past seqs already stored if Redis had lost its counter."""
        for _ in range(_SEQ_ATTEMPTS):
            try:
                await self._messages.insert(message)
                return message
            except DuplicateClientId:
                earlier = await self._messages.get_by_client_id(message.sender_id,
                                                                message.client_msg_id or "")
                if earlier is None:
                    raise
                return earlier
            except DuplicateSeq:
                await self._sequences.reseed_after_collision(
                    message.conv_id, await self._messages.max_seq(message.conv_id))
                seq = await self._sequences.allocate_system(message.conv_id)
                if seq is None:
                    break
                message.seq = seq
        raise Unavailable("could not store the message; try again")

    async def _earlier(self, user_id: str, client_msg_id: str, earlier_id: str) -> Message:
        """The message a previous send of this client_msg_id stored, waiting for it briefly
        when that send (on another device, maybe another node) is still under way."""
        if earlier_id:
            found = await self._messages.get(earlier_id)
            if found is not None:
                return found
        async with asyncio.timeout(_EARLIER_WAIT_SECONDS):
            while True:
                found = await self._messages.get_by_client_id(user_id, client_msg_id)
                if found is not None:
                    return found
                # Polls the store while another request finishes; not a time rule.
                await asyncio.sleep(_EARLIER_POLL_SECONDS)

    async def _attachment(self, out: Outgoing, user_id: str) -> dict[str, Any]:
        if not out.file_id:
            raise BadRequest("file_id: a file message needs the id of an uploaded file")
        attachment = await self._files.get(out.file_id)
        if attachment is None:
            raise NotFound(f"no file {out.file_id}")
        if attachment.uploader_id != user_id or attachment.conv_id != out.conv_id:
            raise Forbidden(f"file {out.file_id} was not uploaded by you to this conversation")
        return attachment.summary()

    async def _resolve_mentions(self, conversation: Conversation, user_id: str,
                                mentions: tuple[str, ...]) -> _Resolved:
        resolved = _Resolved()
        users: dict[str, None] = {}
        for mention in mentions:
            if mention == "all":
                if conversation.type not in MANAGED_TYPES or \
                        not conversation.is_manager(user_id):
                    raise Forbidden("mentions: only the owner or an admin mentions all")
                resolved.all = True
            elif mention.startswith("user:"):
                target = mention[5:]
                if target not in conversation.members:
                    raise BadRequest(f"mentions: {target} is not a member")
                users.setdefault(target)
            elif mention.startswith("dept:"):
                for member in await self._directory.member_ids(mention[5:]):
                    if member in conversation.members:
                        users.setdefault(member)
            else:
                raise BadRequest(f"mentions: {mention!r} is not all, user:<id> or dept:<id>")
        resolved.users = sorted(users)
        return resolved

    async def _after_store(self, conversation: Conversation, message: Message,
                           claim: tuple[str, str] | None = None) -> None:
        """Publish after persist: every member's every device gets `msg:new`; the mentioned
        get their copy flagged. Before that, one round trip records the new last message
        and lets the send's claim name the stored message."""
        async with self._sequences.pipeline() as pipe:
            if claim is not None:
                self._sequences.fulfil(pipe, claim[0], claim[1], message.id)
                self._previews.note_sent(pipe, message.conv_id, message.sender_id, message.seq)
            await self._previews.put(message.conv_id, message.preview(), pipe)
            await pipe.execute()
        base = message.to_wire()
        if message.card is not None and self._cards is not None:
            # One rendering per kind of viewer (those who may act, those who may not).
            for view, viewers in await self._cards.views_by_kind(
                    message.card["card_id"], frozenset(conversation.members)):
                await self._bus.publish(DomainEvent(
                    "msg:new", {"message": {**base, "card": view, "mention": False}},
                    audience=frozenset(viewers)))
            return
        mentioned = conversation.members - {message.sender_id} if message.mention_all \
            else frozenset(message.mention_users) & conversation.members - {message.sender_id}
        others = conversation.members - mentioned
        if others:
            await self._bus.publish(DomainEvent("msg:new", {"message": {**base,
                                                                        "mention": False}},
                                                audience=frozenset(others)))
        if mentioned:
            await self._bus.publish(DomainEvent("msg:new", {"message": {**base,
                                                                        "mention": True}},
                                                audience=frozenset(mentioned)))

    async def post(self, conv_id: str, message_type: str, *, text: str = "",
                   card: dict[str, Any] | None = None,
                   event: dict[str, Any] | None = None) -> Message:
        """A message from the system (a notice, a card) into any conversation."""
        conversation = await self._conversations.load(conv_id)
        seq = await self._sequences.allocate_system(conv_id)
        if seq is None:
            await self._sequences.seed(conv_id, await self._messages.max_seq(conv_id))
            seq = await self._sequences.allocate_system(conv_id)
        if seq is None:
            raise Unavailable("could not allocate a sequence number; try again")
        message = Message(id=str(ObjectId()), conv_id=conv_id, seq=seq,
                          sender_id=SYSTEM_SENDER, type=message_type, ts=iso(self._clock.now()),
                          text=text, client_msg_id=f"sys-{uuid.uuid4().hex}", card=card,
                          event=event)
        stored = await self._store(message)
        await self._after_store(conversation, stored)
        return stored

    async def post_notice(self, conversation: Conversation, event: dict[str, Any]) -> None:
        await self.post(conversation.id, "system", event=event)

    async def post_card(self, user_id: str, card_id: str) -> Message:
        """A card into the user's work notifications. The message keeps only the card's id:
        every read renders the card as its viewer sees it then."""
        conversation = await self._conversations.ensure_notifications(user_id)
        return await self.post(conversation.id, "card", card={"card_id": card_id})

    def set_card_views(self, views: CardViews) -> None:
        self._cards = views

    async def wires(self, viewer: str, messages: list[Message]) -> list[dict[str, Any]]:
        """Messages as `viewer` sees them, cards rendered for them now."""
        wires = [m.to_wire(viewer) for m in messages]
        card_ids = [w["card"]["card_id"] for w in wires if "card" in w]
        if card_ids and self._cards is not None:
            views = await self._cards.views(viewer, card_ids)
            for wire in wires:
                if "card" in wire and wire["card"]["card_id"] in views:
                    wire["card"] = views[wire["card"]["card_id"]]
        return wires

    # reading -------------------------------------------------------------------------------

    async def inbox(self, user_id: str) -> list[dict[str, Any]]:
        """The user's conversations with `last_seq`, `read_seq`, `unread` (others' messages
        after the read cursor, recalled ones not counted) and the last message, most recent
        first."""
        await self._conversations.ensure_notifications(user_id)
        memberships = {m.conv_id: m for m in await self._conversations.memberships(user_id)}
        conversations = await self._conversations.get_many(memberships)
        ids = sorted(conversations)
        seqs = await self._sequences.current(ids)
        previews = await self._previews.get_many(ids)
        sent = await self._previews.sent_by(user_id, ids)
        listed: list[dict[str, Any]] = []
        for conv_id in ids:
            conversation, membership = conversations[conv_id], memberships[conv_id]
            last = seqs[conv_id]
            if last is None:
                last = await self._conversations.current_seq(conv_id)
            preview = previews[conv_id]
            if preview is None and last > 0:
                latest = await self._messages.latest(conv_id)
                if latest is not None:
                    preview = latest.preview()
                    await self._previews.put(conv_id, preview)
            visible = preview is not None and preview["seq"] > membership.visible_after(
                conversation)
            read_seq = max(membership.read_seq, sent.get(conv_id, 0))
            unread = 0
            if last > read_seq:
                unread = await self._messages.count_unread(conv_id, user_id, read_seq)
            listed.append({**conversation.to_wire(), "last_seq": last,
                           "read_seq": read_seq, "unread": unread,
                           "last_message": preview if visible else None})
        listed.sort(key=lambda c: (c["last_message"] or {}).get("ts") or c["created_at"],
                    reverse=True)
        return listed

    async def history(self, user_id: str, conv_id: str, before_seq: int | None,
                      limit: int | None) -> tuple[list[Message], bool]:
        conversation, membership = await self._conversations.require_member(conv_id, user_id)
        size = self._limit(limit, self._policy.history_limit, self._policy.history_limit_max)
        found = await self._messages.history(conv_id,
                                             after=membership.visible_after(conversation),
                                             before=before_seq, limit=size + 1)
        return found[:size], len(found) > size

    @staticmethod
    def _limit(asked: int | None, default: int, most: int) -> int:
        if asked is None:
            return default
        if not 1 <= asked <= most:
            raise BadRequest(f"limit: between 1 and {most}")
        return asked

    async def sync(self, user_id: str, cursors: dict[str, int],
                   limit: int | None) -> tuple[list[Message], bool]:
        size = self._limit(limit, self._policy.sync_limit, self._policy.sync_limit_max)
        memberships = await self._conversations.memberships_in(user_id, list(cursors))
        for conv_id in cursors:
            membership = memberships.get(conv_id)
            if membership is None or not membership.active:
                raise Forbidden(f"you are not a member of conversation {conv_id}")
        conversations = await self._conversations.get_many(cursors)
        current = await self._sequences.current(list(cursors))
        ranges: dict[str, int] = {}
        for conv_id, seen in cursors.items():
            floor = max(seen, memberships[conv_id].visible_after(conversations[conv_id]))
            last = current.get(conv_id)
            if last is None or last > floor:
                ranges[conv_id] = floor
        found = await self._messages.since(ranges, size + 1)
        has_more = len(found) > size
        found = found[:size]
        # Oldest first across conversations, each conversation still in seq order.
        per_conv: dict[str, list[Message]] = {}
        for message in found:
            per_conv.setdefault(message.conv_id, []).append(message)
        merged = list(heapq.merge(*per_conv.values(), key=lambda m: m.ts))
        return merged, has_more

    async def get_visible(self, user_id: str, message_id: str) -> tuple[Conversation, Message]:
        message = await self._messages.get(message_id)
        if message is None:
            raise NotFound(f"no message {message_id}")
        conversation, membership = await self._conversations.require_member(message.conv_id,
                                                                            user_id)
        if message.seq <= membership.visible_after(conversation):
            raise NotFound(f"no message {message_id}")
        return conversation, message

    # read cursors and receipts -------------------------------------------------------------

    async def read(self, user_id: str, conv_id: str, seq: int) -> int:
        conversation, _ = await self._conversations.require_member(conv_id, user_id)
        last = await self._conversations.current_seq(conv_id)
        if seq > last:
            raise BadRequest(f"seq: conversation {conv_id} ends at {last}")
        before = await self._conversations.advance_read(conv_id, user_id, seq)
        if before is None:
            current = await self._conversations.membership(conv_id, user_id)
            return current.read_seq if current else seq
        receipt = {"conv_id": conv_id, "user_id": user_id, "read_seq": seq}
        await self._notifier.durable([user_id], "msg:receipt", receipt)
        if conversation.type == ConvType.DIRECT:
            await self._notifier.push(conversation.members - {user_id}, "msg:receipt", receipt)
        elif conversation.type in MANAGED_TYPES:
            self._receipts.add(conv_id, user_id, before, seq)
        return seq

    async def readers(self, user_id: str, message_id: str,
                      conv_id: str | None = None) -> dict[str, Any]:
        conversation, message = await self.get_visible(user_id, message_id)
        if conv_id is not None and conv_id != message.conv_id:
            raise NotFound(f"no message {message_id} in conversation {conv_id}")
        read: list[str] = []
        unread: list[str] = []
        sent = await self._previews.senders(conversation.id)
        for member in await self._conversations.members_of(conversation.id):
            if member.user_id == message.sender_id:
                continue
            if not conversation.open_history and member.joined_seq >= message.seq:
                continue  # joined after it was sent
            has_read = max(member.read_seq, sent.get(member.user_id, 0)) >= message.seq
            (read if has_read else unread).append(member.user_id)
        result: dict[str, Any] = {"read": sorted(read), "unread": sorted(unread)}
        if message.urgent:
            result.update(await self._urgent.status(message.id))
        return result

    # recall and edit -----------------------------------------------------------------------

    async def recall(self, user_id: str, message_id: str) -> Message:
        conversation, message = await self.get_visible(user_id, message_id)
        if message.recalled:
            return message
        manager = conversation.type in MANAGED_TYPES and conversation.is_manager(user_id)
        if not manager:
            if message.sender_id != user_id:
                raise Forbidden("only the sender or a group owner/admin recalls a message")
            age = self._clock.time() - _timestamp(message.ts)
            if age > self._policy.recall_window:
                raise Forbidden(f"a message can be recalled within "
                                f"{int(self._policy.recall_window)} s of sending")
        recalled = await self._messages.recall(message.id, user_id, iso(self._clock.now()))
        if recalled is None:  # a concurrent recall won; the result is the same
            found = await self._messages.get(message.id)
            assert found is not None
            return found
        if message.file:
            await self._files.delete(message.file["id"])
        if message.urgent:
            await self._urgent.cancel(message.id)
        await self._previews.put(message.conv_id, recalled.preview())
        await self._notifier.durable(conversation.members, "msg:recalled", {
            "conv_id": recalled.conv_id, "msg_id": recalled.id, "seq": recalled.seq,
            "recalled_by": recalled.recalled_by, "recalled_at": recalled.recalled_at})
        return recalled

    async def edit(self, user_id: str, message_id: str, text: str) -> Message:
        conversation, message = await self.get_visible(user_id, message_id)
        if message.sender_id != user_id:
            raise Forbidden("only the sender edits a message")
        if message.type != "text":
            raise BadRequest(f"msg_id: a {message.type} message cannot be edited")
        if not text.strip():
            raise BadRequest("text: a text message needs text")
        if len(text) > self._policy.text_max:
            raise TooLarge(f"text: longer than {self._policy.text_max} characters")
        if message.recalled:
            raise Forbidden("a recalled message cannot be edited")
        edited = await self._messages.edit(message.id, text, iso(self._clock.now()))
        if edited is None:
            raise Forbidden("a recalled message cannot be edited")
        await self._previews.put(edited.conv_id, edited.preview())
        await self._notifier.durable(conversation.members, "msg:edited",
                                     {"message": edited.to_wire()})
        return edited

    # typing, urgent acknowledgements, search -----------------------------------------------

    async def typing(self, user_id: str, conv_id: str) -> None:
        conversation = self._conversations.cached(conv_id)
        if conversation is None or user_id not in conversation.members:
            conversation = await self._conversations.load(conv_id)
        self._check_writable(conversation, user_id)
        now = self._clock.time()
        key = (conv_id, user_id)
        if now - self._typing.get(key, float("-inf")) < _TYPING_EVERY_SECONDS:
            return  # the others were told a moment ago
        self._typing[key] = now
        if len(self._typing) > 50_000:
            self._typing = {k: t for k, t in self._typing.items()
                            if now - t < _TYPING_EVERY_SECONDS}
        await self._notifier.push(conversation.members - {user_id}, "typing",
                                  {"conv_id": conv_id, "user_id": user_id})

    async def ack(self, user_id: str, message_id: str) -> bool:
        _, message = await self.get_visible(user_id, message_id)
        try:
            first = await self._urgent.ack(message, user_id)
        except LookupError as exc:
            raise NotFound(f"message {message_id} is not urgent for you") from exc
        if first:
            await self._notifier.push({message.sender_id, user_id}, "msg:acked",
                                      {"conv_id": message.conv_id, "msg_id": message.id,
                                       "user_id": user_id})
        return first

    async def search(self, user_id: str, q: str, conv_id: str | None,
                     limit: int) -> list[dict[str, Any]]:
        query = parse_query(q)
        if not query.terms:
            raise BadRequest("q: nothing to search for")
        if conv_id is not None:
            conversation, membership = await self._conversations.require_member(conv_id,
                                                                                user_id)
            floors = {conv_id: membership.visible_after(conversation)}
        else:
            memberships = await self._conversations.memberships(user_id)
            conversations = await self._conversations.get_many(m.conv_id for m in memberships)
            floors = {m.conv_id: m.visible_after(conversations[m.conv_id])
                      for m in memberships if m.conv_id in conversations}
        results: list[dict[str, Any]] = []
        for message in await self._messages.search(floors, list(query.terms), limit * 4):
            found = snippet(message.text, query)
            if found is None:
                continue  # every term occurs, but not as the phrase asked for
            results.append({"message": (await self.wires(user_id, [message]))[0],
                            "snippet": found.text,
                            "highlights": [list(span) for span in found.highlights]})
            if len(results) >= limit:
                break
        return results


def _timestamp(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
