"""Conversations and who belongs to them: direct chats (one per pair), groups with an owner
and admins, department groups that follow the directory, and each user's work-notification
conversation."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

from chat.changes import Notifier
from chat.messages import MessageStore
from chat.models import (
    MANAGED_TYPES,
    SYSTEM_SENDER,
    Conversation,
    ConvType,
    Membership,
)
from chat.policy import ChatPolicy
from chat.sequence import SequenceAllocator
from chat.store import ConversationStore
from core.bus import DomainEvent
from core.clock import Clock, iso
from core.directory.models import Role
from core.directory.service import DIRECTORY_CHANGED, DirectoryService
from core.errors import BadRequest, Conflict, Forbidden, NotFound, TooLarge

NOTIFICATIONS_TITLE = "工作通知"
_CAS_ATTEMPTS = 20
_CACHE_SIZE = 10_000

# Posts a system notice into a conversation: (conversation, event fields) -> None.
SystemPoster = Callable[[Conversation, dict[str, Any]], Awaitable[None]]


def direct_id(a: str, b: str) -> str:
    first, second = sorted((a, b))
    return f"d:{first}|{second}"


def notifications_id(user_id: str) -> str:
    return f"n:{user_id}"


def department_group_id(dept_id: str) -> str:
    return f"dept:{dept_id}"


class ConversationService:
    def __init__(self, store: ConversationStore, messages: MessageStore,
                 sequences: SequenceAllocator, directory: DirectoryService,
                 notifier: Notifier, clock: Clock, policy: ChatPolicy) -> None:
        self._store = store
        self._messages = messages
        self._sequences = sequences
        self._directory = directory
        self._notifier = notifier
        self._clock = clock
        self._policy = policy
        self._cache: OrderedDict[str, Conversation] = OrderedDict()
        self._post_system: SystemPoster | None = None

    def set_system_poster(self, poster: SystemPoster) -> None:
        """The message service posts the notices that membership changes leave in a chat."""
        self._post_system = poster

    # reading -------------------------------------------------------------------------------

    def cached(self, conv_id: str) -> Conversation | None:
        return self._cache.get(conv_id)

    def _remember(self, conversation: Conversation) -> Conversation:
        self._cache[conversation.id] = conversation
        self._cache.move_to_end(conversation.id)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return conversation

    async def load(self, conv_id: str) -> Conversation:
        conversation = await self._store.get(conv_id)
        if conversation is None:
            self._cache.pop(conv_id, None)
            raise NotFound(f"no conversation {conv_id}")
        return self._remember(conversation)

    async def get_fresh_enough(self, conv_id: str, version: int | None) -> Conversation:
        """The cached conversation if it is at `version` (as Redis last heard), else reloaded."""
        cached = self._cache.get(conv_id)
        if cached is not None and version is not None and cached.version >= version:
            return cached
        conversation = await self.load(conv_id)
        await self._sequences.publish_version(conv_id, conversation.version)
        return conversation

    async def require_member(self, conv_id: str, user_id: str) -> tuple[Conversation,
                                                                          Membership]:
        """The conversation, read afresh (another node may have changed its settings), and
        the user's membership; `not_found` for an unknown one, `forbidden` for non-members."""
        conversation = await self.load(conv_id)
        membership = await self._store.get_membership(conv_id, user_id)
        if membership is None or not membership.active:
            raise Forbidden(f"you are not a member of conversation {conv_id}")
        return conversation, membership

    async def get(self, user_id: str, conv_id: str) -> Conversation:
        conversation, _ = await self.require_member(conv_id, user_id)
        return conversation

    async def memberships(self, user_id: str) -> list[Membership]:
        return await self._store.memberships_of_user(user_id)

    async def memberships_in(self, user_id: str, conv_ids: list[str]) -> dict[str, Membership]:
        return await self._store.memberships_of_user_in(user_id, conv_ids)

    async def membership(self, conv_id: str, user_id: str) -> Membership | None:
        return await self._store.get_membership(conv_id, user_id)

    async def members_of(self, conv_id: str) -> list[Membership]:
        return await self._store.members_of(conv_id)

    async def advance_read(self, conv_id: str, user_id: str, seq: int) -> int | None:
        return await self._store.advance_read(conv_id, user_id, seq)

    async def is_member(self, conv_id: str, user_id: str) -> bool:
        membership = await self._store.get_membership(conv_id, user_id)
        return membership is not None and membership.active

    async def get_many(self, conv_ids: Iterable[str]) -> dict[str, Conversation]:
        found = await self._store.get_many(conv_ids)
        for conversation in found.values():
            self._remember(conversation)
        return found

    async def current_seq(self, conv_id: str) -> int:
        """The last allocated seq, seeding the counter from the store where Redis lost it."""
        seq = (await self._sequences.current([conv_id]))[conv_id]
        if seq is None:
            await self._sequences.seed(conv_id, await self._messages.max_seq(conv_id))
            seq = (await self._sequences.current([conv_id]))[conv_id]
        return seq or 0

    # creating ------------------------------------------------------------------------------

    async def _require_users(self, user_ids: Iterable[str]) -> list[str]:
        wanted = list(dict.fromkeys(user_ids))
        found = await self._directory.get_users(wanted)
        for user_id in wanted:
            user = found.get(user_id)
            if user is None or user.disabled:
                raise NotFound(f"no user {user_id}")
        return wanted

    def _new(self, conv_id: str, conv_type: ConvType, members: Iterable[str], *,
             title: str | None, owner_id: str | None, created_by: str | None,
             dept_id: str | None = None) -> Conversation:
        return Conversation(id=conv_id, type=conv_type, title=title, members=frozenset(members),
                            owner_id=owner_id, created_by=created_by,
                            created_at=iso(self._clock.now()), dept_id=dept_id)

    async def _create(self, conversation: Conversation) -> Conversation:
        """Store a new conversation; if its id exists (a deterministic id created by someone
        else at the same moment, or before), that one is returned instead."""
        if not await self._store.insert(conversation):
            existing = await self.load(conversation.id)
            # The winner may not have written memberships yet; doing it again is harmless.
            await self._store.activate(existing.id, existing.members, 0, reset=False)
            return existing
        await self._sequences.seed(conversation.id, 0)
        await self._store.activate(conversation.id, conversation.members, 0, reset=True)
        await self._sequences.publish_version(conversation.id, conversation.version)
        self._remember(conversation)
        await self._notifier.durable(conversation.members, "conv:new",
                                     {"conversation": conversation.to_wire()})
        return conversation

    async def create_direct(self, user_id: str, peer_id: str) -> Conversation:
        if peer_id == user_id:
            raise BadRequest("members: a direct conversation is with one other person")
        await self._require_users([peer_id])
        return await self._create(self._new(direct_id(user_id, peer_id), ConvType.DIRECT,
                                            (user_id, peer_id), title=None, owner_id=None,
                                            created_by=user_id))

    async def create_group(self, user_id: str, member_ids: list[str],
                           title: str | None) -> Conversation:
        members = await self._require_users([user_id, *member_ids])
        if len(members) > self._policy.group_max_members:
            raise TooLarge(f"members: a group holds at most {self._policy.group_max_members}")
        if not title:
            names = await self._directory.get_users(members[:3])
            title = "、".join(names[m].name for m in members[:3] if m in names)
        return await self._create(self._new(f"g:{uuid.uuid4().hex}", ConvType.GROUP, members,
                                            title=title, owner_id=user_id, created_by=user_id))

    async def create_department(self, user_id: str, dept_id: str,
                                title: str | None) -> Conversation:
        tree = await self._directory.get_tree()
        department = tree.get(dept_id)
        if department is None:
            raise NotFound(f"no department {dept_id}")
        user = await self._directory.get_user(user_id)
        allowed = {tree.department_head(dept_id), tree.leader_in_charge(dept_id)}
        if not user.has_role(Role.ADMIN) and user_id not in allowed:
            raise Forbidden("only an admin, the department head or the leader in charge "
                            "creates a department group")
        members = await self._directory.member_ids(dept_id)
        if len(members) > self._policy.group_max_members:
            raise TooLarge(f"department {dept_id} has {len(members)} people; a group holds "
                           f"at most {self._policy.group_max_members}")
        head = tree.department_head(dept_id)
        owner = head if head in members else user_id
        return await self._create(self._new(
            department_group_id(dept_id), ConvType.DEPARTMENT, [*members, owner],
            title=title or department.name, owner_id=owner, created_by=user_id,
            dept_id=dept_id))

    async def ensure_notifications(self, user_id: str) -> Conversation:
        cached = self._cache.get(notifications_id(user_id))
        if cached is not None:
            return cached
        existing = await self._store.get(notifications_id(user_id))
        if existing is not None:
            return self._remember(existing)
        return await self._create(self._new(notifications_id(user_id), ConvType.NOTIFICATIONS,
                                            (user_id,), title=NOTIFICATIONS_TITLE,
                                            owner_id=None, created_by=None))

    # managing ------------------------------------------------------------------------------

    async def _change(self, conv_id: str,
                      edit: Callable[[Conversation], Conversation | None]) -> tuple[
                          Conversation, Conversation]:
        """Apply `edit` by compare-and-set, re-reading and re-checking after a lost race.
        `edit` raises to refuse, returns None for "nothing to change"."""
        for _ in range(_CAS_ATTEMPTS):
            before = await self.load(conv_id)
            if before.dissolved:
                raise Forbidden(f"conversation {conv_id} was dissolved")
            after = edit(before)
            if after is None:
                return before, before
            if await self._store.replace_if_version(before, after):
                stored = self._remember(replace(after, version=before.version + 1))
                await self._sequences.publish_version(conv_id, stored.version)
                return before, stored
            await asyncio.sleep(0)
        raise Conflict(f"conversation {conv_id} is changing too fast; try again")

    def _require_manager(self, conversation: Conversation, user_id: str) -> None:
        if conversation.type not in MANAGED_TYPES:
            raise Forbidden(f"a {conversation.type} conversation has no managers")
        if user_id not in conversation.members:
            raise Forbidden(f"you are not a member of conversation {conversation.id}")
        if not conversation.is_manager(user_id):
            raise Forbidden("only the owner or an admin manages this group")

    async def _announce(self, before: Conversation, after: Conversation,
                        notice: dict[str, Any] | None) -> None:
        await self._notifier.durable(after.members | before.members, "conv:updated",
                                     {"conversation": after.to_wire()})
        if notice is not None and self._post_system is not None:
            await self._post_system(after, notice)

    async def update(self, user_id: str, conv_id: str, changes: dict[str, Any]) -> Conversation:
        def edit(conv: Conversation) -> Conversation | None:
            self._require_manager(conv, user_id)
            after = replace(conv, **changes)
            return None if after == conv else after

        before, after = await self._change(conv_id, edit)
        if after is not before:
            await self._announce(before, after, {"kind": "updated", "by": user_id,
                                                 "changes": changes})
        return after

    async def add_members(self, user_id: str, conv_id: str,
                          user_ids: list[str]) -> Conversation:
        wanted = await self._require_users(user_ids)

        def edit(conv: Conversation) -> Conversation | None:
            if user_id != SYSTEM_SENDER:
                self._require_manager(conv, user_id)
            members = conv.members | set(wanted)
            if members == conv.members:
                return None
            if len(members) > self._policy.group_max_members:
                raise TooLarge(f"user_ids: a group holds at most "
                               f"{self._policy.group_max_members} members")
            return replace(conv, members=frozenset(members))

        before, after = await self._change(conv_id, edit)
        added = sorted(after.members - before.members)
        if added:
            await self._store.activate(conv_id, added, await self.current_seq(conv_id),
                                       reset=True)
            await self._notifier.durable(added, "conv:new", {"conversation": after.to_wire()})
            await self._announce(before, after, {"kind": "members_added", "by": user_id,
                                                 "user_ids": added})
        return after

    async def remove_members(self, user_id: str, conv_id: str,
                             user_ids: list[str]) -> Conversation:
        unwanted = set(user_ids)

        def edit(conv: Conversation) -> Conversation | None:
            if user_id != SYSTEM_SENDER:
                self._require_manager(conv, user_id)
                if conv.owner_id in unwanted:
                    raise Forbidden("the owner cannot be removed; transfer ownership first")
                if user_id != conv.owner_id and unwanted & conv.admins:
                    raise Forbidden("only the owner removes an admin")
            removed = conv.members & unwanted
            if not removed:
                return None
            return replace(conv, members=conv.members - removed, admins=conv.admins - removed)

        before, after = await self._change(conv_id, edit)
        await self._after_removal(user_id, before, after)
        return after

    async def _after_removal(self, by: str, before: Conversation, after: Conversation) -> None:
        removed = sorted(before.members - after.members)
        if not removed:
            return
        await self._store.deactivate(after.id, removed)
        await self._notifier.durable(removed, "conv:removed", {"conv_id": after.id, "by": by})
        await self._announce(replace(before, members=after.members), after,
                             {"kind": "members_removed", "by": by, "user_ids": removed})

    async def leave(self, user_id: str, conv_id: str) -> None:
        def edit(conv: Conversation) -> Conversation | None:
            if user_id not in conv.members:
                raise Forbidden(f"you are not a member of conversation {conv_id}")
            if conv.type != ConvType.GROUP:
                raise Forbidden(f"nobody leaves a {conv.type} conversation")
            if conv.owner_id == user_id:
                raise Forbidden("the owner cannot leave; transfer ownership first")
            return replace(conv, members=conv.members - {user_id},
                           admins=conv.admins - {user_id})

        before, after = await self._change(conv_id, edit)
        await self._after_removal(user_id, before, after)

    async def set_admin(self, user_id: str, conv_id: str, target: str,
                        admin: bool) -> Conversation:
        def edit(conv: Conversation) -> Conversation | None:
            self._require_owner(conv, user_id)
            if target not in conv.members:
                raise BadRequest(f"user_id: {target} is not a member")
            admins = conv.admins | {target} if admin else conv.admins - {target}
            return None if admins == conv.admins else replace(conv, admins=frozenset(admins))

        before, after = await self._change(conv_id, edit)
        if after is not before:
            await self._announce(before, after, {"kind": "admins", "by": user_id,
                                                 "user_id": target, "admin": admin})
        return after

    def _require_owner(self, conversation: Conversation, user_id: str) -> None:
        if conversation.type not in MANAGED_TYPES:
            raise Forbidden(f"a {conversation.type} conversation has no owner")
        if conversation.owner_id != user_id:
            raise Forbidden("only the owner may do this")

    async def transfer(self, user_id: str, conv_id: str, target: str) -> Conversation:
        def edit(conv: Conversation) -> Conversation | None:
            self._require_owner(conv, user_id)
            if target not in conv.members:
                raise BadRequest(f"user_id: {target} is not a member")
            if target == user_id:
                return None
            return replace(conv, owner_id=target, admins=conv.admins - {target})

        before, after = await self._change(conv_id, edit)
        if after is not before:
            await self._announce(before, after, {"kind": "owner", "by": user_id,
                                                 "user_id": target})
        return after

    async def dissolve(self, user_id: str, conv_id: str) -> None:
        def edit(conv: Conversation) -> Conversation | None:
            self._require_owner(conv, user_id)
            return replace(conv, dissolved=True)

        _, after = await self._change(conv_id, edit)
        if self._post_system is not None:
            await self._post_system(after, {"kind": "dissolved", "by": user_id})
        await self._notifier.durable(after.members, "conv:dissolved",
                                     {"conv_id": conv_id, "by": user_id})

    # department groups follow the directory ------------------------------------------------

    async def on_domain_event(self, event: DomainEvent) -> None:
        if event.name == DIRECTORY_CHANGED:
            await self.sync_department_groups()

    async def sync_department_groups(self) -> None:
        """Bring every department group's members in line with the directory: people who
        joined the department are added, people who left it or were disabled are removed."""
        for conversation in await self._store.department_groups():
            if conversation.dept_id is None:
                continue
            try:
                wanted = set(await self._directory.member_ids(conversation.dept_id))
            except NotFound:
                wanted = set()
            if conversation.owner_id:
                wanted.add(conversation.owner_id)
            gone = sorted(conversation.members - wanted)
            new = sorted(wanted - conversation.members)
            if new:
                await self.add_members(SYSTEM_SENDER, conversation.id, new)
            if gone:
                await self.remove_members(SYSTEM_SENDER, conversation.id, gone)
