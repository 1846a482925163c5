"""The card engine: who sees what, and acts that take effect exactly once.

`act` claims its idempotency key, then changes the card by compare-and-set on `version`:
of two devices or twenty approvers clicking at once, one changes the card and the others get
`conflict` with the card as it now is (its timeline says who acted). A definitive outcome
(the new card, or a refusal) is kept under the key and returned again for a repeat; a
transient failure frees the key for a retry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import Any, Protocol

from cards.models import Action, Card, Field, as_fields
from cards.rules import CardRules, SimpleRules
from cards.store import CardStore
from chat.changes import Notifier
from core.clock import Clock, iso
from core.errors import AppError, BadRequest, Conflict, ErrorCode, Forbidden, NotFound
from core.priority import Urgency

_DEFINITIVE = {ErrorCode.FORBIDDEN, ErrorCode.CONFLICT, ErrorCode.BAD_REQUEST,
               ErrorCode.NOT_FOUND, ErrorCode.GONE}
_EARLIER_WAIT_SECONDS = 5.0
# An act's effects (audit entries, next steps' deliveries, record cards) wait while other
# acts are on their way to their `card:update` (core/priority.py), at most this long; then
# at most so many acts' effects run at once on a node. Acts past this many still take effect
# and push at once; only their acknowledgement waits for a turn.
_EFFECTS_MAX_DEFER_SECONDS = 1.0
_EFFECTS_AT_ONCE = 8
_EARLIER_POLL_SECONDS = 0.05
# A service's change of a card is decided again this often while holders act on it.
_REVISE_TRIES = 20

# Posts a card into a user's work notifications: (user_id, card) -> None.
Deliver = Callable[[str, Card], Awaitable[None]]


class CardConversations(Protocol):
    """The conversations cards are shared into (chat's side)."""

    async def is_member(self, conv_id: str, user_id: str) -> bool: ...

    async def member_ids(self, conv_ids: list[str]) -> set[str]: ...

    async def require_shareable(self, conv_id: str, user_id: str) -> None: ...

    async def post(self, conv_id: str, card_id: str) -> None: ...


class CardService:
    def __init__(self, store: CardStore, notifier: Notifier, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._rules: dict[str, CardRules] = {}
        self._default_rules = SimpleRules()
        self._deliver: Deliver | None = None
        self._conversations: CardConversations | None = None
        self._effects = asyncio.Semaphore(_EFFECTS_AT_ONCE)
        self._urgency = Urgency(_EFFECTS_MAX_DEFER_SECONDS)

    def set_delivery(self, deliver: Deliver, conversations: CardConversations) -> None:
        self._deliver = deliver
        self._conversations = conversations

    def register_rules(self, kind: str, rules: CardRules) -> None:
        self._rules[kind] = rules

    # creating ------------------------------------------------------------------------------

    async def create(self, *, kind: str, title: str, holders: Iterable[str],
                     actions: Iterable[Action] = (),
                     can_act: Mapping[str, Iterable[str]] | None = None, mode: str = "any",
                     fields: Iterable[Field | tuple[str, str]] = (),
                     flow: str | None = None, status: str = "pending",
                     deliver_to: Iterable[str] | None = None, applicant: str | None = None,
                     meta: dict[str, Any] | None = None,
                     timeline: Iterable[dict[str, Any]] = (),
                     cleared: Iterable[str] | None = None,
                     attachments: Iterable[dict[str, Any]] = ()) -> Card:
        """Store a card and deliver it to `deliver_to` (default: every holder) as a chat
        message in their work notifications. `cleared` names who may see its sensitive
        fields unmasked (default: every holder)."""
        open_now = {u: tuple(a) for u, a in (can_act or {}).items()}
        card = Card(id=uuid.uuid4().hex, kind=kind, title=title, status=status,
                    holders=frozenset(holders) | set(open_now), actions=tuple(actions),
                    can_act=open_now, mode=mode, fields=as_fields(fields), flow=flow,
                    created_at=iso(self._clock.now()), applicant=applicant,
                    meta=dict(meta or {}), timeline=tuple(timeline),
                    cleared=None if cleared is None else frozenset(cleared),
                    attachments=tuple(attachments))
        await self._store.insert(card)
        for user_id in sorted(card.holders if deliver_to is None else set(deliver_to)):
            await self.deliver(user_id, card)
        return card

    async def deliver(self, user_id: str, card: Card) -> None:
        """The card as a message in the user's work notifications."""
        if self._deliver is not None:
            await self._deliver(user_id, card)

    # reading -------------------------------------------------------------------------------

    async def get(self, viewer: str, card_id: str) -> dict[str, Any]:
        card = await self._store.get(card_id)
        if card is None:
            raise NotFound(f"no card {card_id}")
        if not await self._may_view(viewer, card):
            raise Forbidden(f"card {card_id} is not yours")
        return card.view(viewer)

    async def _may_view(self, viewer: str, card: Card) -> bool:
        """Its holders, and the members of the conversations it was shared into."""
        if viewer in card.holders:
            return True
        if self._conversations is None:
            return False
        for conv_id in card.conv_ids:
            if await self._conversations.is_member(conv_id, viewer):
                return True
        return False

    async def share(self, user_id: str, card_id: str, conv_id: str) -> dict[str, Any]:
        """Share a card into a conversation of the sharer's (转发): its members see it as it
        is now, and each of its changes. Sharing it there again changes nothing."""
        card = await self._store.get(card_id)
        if card is None:
            raise NotFound(f"no card {card_id}")
        if not await self._may_view(user_id, card):
            raise Forbidden(f"card {card_id} is not yours")
        assert self._conversations is not None
        await self._conversations.require_shareable(conv_id, user_id)
        if await self._store.add_conversation(card_id, conv_id):
            await self._conversations.post(conv_id, card_id)
            return {"shared": True}
        return {"shared": False}

    async def stored(self, card_id: str) -> Card | None:
        return await self._store.get(card_id)

    async def holds_any(self, user_id: str, card_ids: list[str]) -> bool:
        cards = await self._store.get_many(card_ids)
        return any(user_id in card.holders for card in cards.values())

    async def views(self, viewer: str, card_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each card as `viewer` sees it now (for every chat read path)."""
        cards = await self._store.get_many(sorted(set(card_ids)))
        return {card_id: card.view(viewer) for card_id, card in cards.items()}

    async def views_by_kind(self, card_id: str,
                            viewers: frozenset[str]) -> list[tuple[dict[str, Any], set[str]]]:
        """One rendering per kind of viewer, with the viewers it serves."""
        card = await self._store.get(card_id)
        if card is None:
            return []
        return [(card.view(next(iter(group))), group)
                for group in card.viewer_kinds(viewers)]

    # acting --------------------------------------------------------------------------------

    async def act(self, user_id: str, card_id: str, action_id: str, version: int, key: str,
                  inputs: dict[str, Any]) -> dict[str, Any]:
        with self._urgency.urgent() as pushed:
            return await self._claimed_act(user_id, card_id, action_id, version, key, inputs,
                                           pushed)

    async def _claimed_act(self, user_id: str, card_id: str, action_id: str, version: int,
                           key: str, inputs: dict[str, Any],
                           pushed: Callable[[], None]) -> dict[str, Any]:
        # The card is read while the key is claimed: a read taken a moment before the claim
        # is no staler than one after it, since the compare-and-set decides either way.
        earlier, card = await asyncio.gather(self._store.claim(user_id, card_id, key),
                                             self._store.get(card_id), return_exceptions=True)
        if isinstance(earlier, BaseException):
            raise earlier
        if earlier is not None:
            pushed()
            return await self._repeat(user_id, card_id, key, earlier)
        try:
            if isinstance(card, BaseException):
                raise card
            view = await self._act(user_id, card_id, card, action_id, version, inputs, pushed)
        except AppError as exc:
            if exc.code in _DEFINITIVE:
                await self._store.settle(user_id, card_id, key, {"error": exc.to_wire()})
            else:
                await self._store.release(user_id, card_id, key)
            raise
        except BaseException:
            await self._store.release(user_id, card_id, key)
            raise
        await self._store.settle(user_id, card_id, key, {"card": view})
        return view

    async def _repeat(self, user_id: str, card_id: str, key: str,
                      record: dict[str, Any]) -> dict[str, Any]:
        """The first outcome under this key, waiting briefly if it is still being decided."""
        async with asyncio.timeout(_EARLIER_WAIT_SECONDS):
            while not record.get("done"):
                # Polls the store while the first call finishes; not a time rule.
                await asyncio.sleep(_EARLIER_POLL_SECONDS)
                found = await self._store.record(user_id, card_id, key)
                if found is None:  # the first call failed transiently: act afresh
                    raise Conflict("the first attempt with this key failed; retry with it")
                record = found
        outcome = record["outcome"]
        if "error" in outcome:
            raise _replayed(outcome["error"])
        return outcome["card"]  # type: ignore[no-any-return]

    async def _act(self, user_id: str, card_id: str, card: Card | None, action_id: str,
                   version: int, inputs: dict[str, Any],
                   pushed: Callable[[], None]) -> dict[str, Any]:
        if card is None:
            raise NotFound(f"no card {card_id}")
        if user_id not in card.holders:
            raise Forbidden(f"card {card_id} is not yours")
        if version != card.version:
            raise self._stale(card, user_id)
        action = card.action(action_id)
        if action is None or action_id not in card.open_to(user_id):
            raise Forbidden(f"{action_id!r} is not open to you on this card")
        if action.url is not None:
            raise BadRequest(f"{action_id!r} opens {action.url}; open it, it is not acted on")
        clean = _check_inputs(action, inputs)
        rules = self._rules.get(card.kind, self._default_rules)
        after = await rules.decide(card, user_id, action, clean, iso(self._clock.now()))
        after = replace(after, version=card.version + 1)
        stored = await self._store.replace_if_version(card, after)
        if stored is None:
            current = await self._store.get(card_id)
            raise self._stale(current or card, user_id)
        after = stored
        await self.publish(after)
        pushed()
        await self._urgency.calm()
        async with self._effects:
            await rules.after_act(card, after)
        return after.view(user_id)

    @staticmethod
    def _stale(card: Card, viewer: str) -> Conflict:
        last = card.timeline[-1] if card.timeline else None
        return Conflict(f"card {card.id} is at version {card.version}" +
                        (f"; {last['actor_id']} acted ({last['decision']})" if last else ""),
                        {"card": card.view(viewer)})

    async def revise(self, card_id: str, change: Callable[[Card], Card | None]) -> Card | None:
        """A service's own change of a card (a callback's outcome, a meeting cancelled):
        `change` decides on the card as stored, by compare-and-set, again if a holder acted
        meanwhile; every holder gets `card:update`. None if there is no card or `change`
        leaves it as it is."""
        for _ in range(_REVISE_TRIES):
            card = await self._store.get(card_id)
            after = None if card is None else change(card)
            if card is None or after is None:
                return None
            stored = await self._store.replace_if_version(
                card, replace(after, version=card.version + 1))
            if stored is not None:
                await self.publish(stored)
                return stored
        raise Conflict(f"card {card_id} kept changing; try again")

    async def publish(self, card: Card) -> None:
        """`card:update` to every holder and every member of a conversation it was shared
        into, each kind of viewer with its own rendering; it is also in their change feeds."""
        viewers = set(card.holders)
        if card.conv_ids and self._conversations is not None:
            viewers |= await self._conversations.member_ids(list(card.conv_ids))
        await self._notifier.durable_many([
            (group, "card:update", {"card_id": card.id, "version": card.version,
                                    "card": card.view(next(iter(group)))})
            for group in card.viewer_kinds(viewers)])


def _check_inputs(action: Action, inputs: dict[str, Any]) -> dict[str, Any]:
    known = {i.id: i for i in action.inputs}
    for name in inputs:
        if name not in known:
            raise BadRequest(f"inputs.{name}: {action.id!r} takes no such input")
    clean: dict[str, Any] = {}
    for spec in action.inputs:
        value = inputs.get(spec.id)
        if value is None or value == "":
            if spec.required:
                raise BadRequest(f"inputs.{spec.id}: required")
            continue
        if not isinstance(value, str) or len(value) > 2000:
            raise BadRequest(f"inputs.{spec.id}: a string of at most 2000 characters")
        if spec.type == "select" and value not in spec.options:
            raise BadRequest(f"inputs.{spec.id}: one of {', '.join(spec.options)}")
        if spec.type == "date":
            try:
                date.fromisoformat(value)
            except ValueError as exc:
                raise BadRequest(f"inputs.{spec.id}: a date YYYY-MM-DD") from exc
        clean[spec.id] = value
    return clean


def _replayed(error: dict[str, Any]) -> AppError:
    """The refusal a first call got, raised again for its repeat."""
    for cls in AppError.__subclasses__():
        if getattr(cls, "code", None) == error.get("code"):
            return cls(error.get("message", ""), error.get("details"))
    return Conflict(error.get("message", ""), error.get("details"))
