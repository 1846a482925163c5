"""How an act changes an application's card, and how a callback's outcome shows on it.

Acts follow the default rules (`cards.rules.SimpleRules`). Each act's timeline entry also
carries the state of its callback, `"callback": {"delivery_id", "state", ...}`; the job is
queued before the card's compare-and-set, so an act that took effect is never without one."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from cards.integration.callbacks import (
    UNCLAIMED_GRACE_SECONDS,
    CallbackJob,
    CallbackQueue,
    CallbackSender,
    Outcome,
)
from cards.models import Action, Card, as_fields
from cards.rules import SimpleRules
from core.clock import Clock

APP_CARD_KIND = "app"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# The card's status once its application could not be told of an act.
CALLBACK_FAILED_STATUS = "callback_failed"


def callback_of(entry: dict[str, Any]) -> dict[str, Any]:
    found = entry.get("callback")
    return found if isinstance(found, dict) else {}


def outcome_wire(delivery_id: str, outcome: Outcome) -> dict[str, Any]:
    wire: dict[str, Any] = {"delivery_id": delivery_id,
                            "state": DELIVERED if outcome.delivered else FAILED,
                            "attempts": outcome.attempts}
    if outcome.message:
        wire["message"] = outcome.message
    if outcome.status:
        wire["status"] = outcome.status
    return wire


def show_outcome(card: Card, delivery_id: str, outcome: Outcome) -> Card | None:
    """The card showing how the callback of one act ended (None if it holds no such act):
    that act's `callback`, and the status and fields the application answered with, or
    `callback_failed` when it could not be told."""
    timeline = list(card.timeline)
    index = next((i for i, entry in enumerate(timeline)
                  if callback_of(entry).get("delivery_id") == delivery_id), None)
    if index is None:
        return None
    timeline[index] = {**timeline[index], "callback": outcome_wire(delivery_id, outcome)}
    if outcome.delivered:
        status = outcome.status or card.status
    else:
        status = CALLBACK_FAILED_STATUS
    fields = card.fields if outcome.fields is None else as_fields(outcome.fields)
    return replace(card, timeline=tuple(timeline), status=status, fields=fields,
                   version=card.version + 1)


def holds_act(card: Card, delivery_id: str) -> bool:
    return any(callback_of(entry).get("delivery_id") == delivery_id for entry in card.timeline)


class AppCardRules:
    def __init__(self, queue: CallbackQueue, sender: CallbackSender, clock: Clock) -> None:
        self._queue = queue
        self._sender = sender
        self._clock = clock
        self._simple = SimpleRules()

    async def decide(self, card: Card, actor: str, action: Action, inputs: dict[str, Any],
                     at: str) -> Card:
        after = await self._simple.decide(card, actor, action, inputs, at)
        now = self._clock.time()
        job = CallbackJob(id=uuid.uuid4().hex, app_id=str(card.meta["app_id"]),
                          card_id=card.id, external_id=card.meta.get("external_id"),
                          actor_id=actor, action=action.id, inputs=dict(inputs),
                          version=card.version + 1, at=at, created=now,
                          due=now + UNCLAIMED_GRACE_SECONDS)
        await self._queue.add(job)
        entry = {**after.timeline[-1], "callback": {"delivery_id": job.id, "state": PENDING}}
        return replace(after, timeline=(*after.timeline[:-1], entry))

    async def after_act(self, before: Card, after: Card) -> None:
        delivery_id = callback_of(after.timeline[-1]).get("delivery_id")
        if delivery_id:
            self._sender.kick(str(delivery_id))
