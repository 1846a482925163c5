"""How an act changes a card. Flows bring their own rules; cards without a flow (notices,
cards from external applications) use these: in "any" mode the first decision settles the
card; in "all" mode each person able to act acts once, and a rejection ends it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from cards.models import Action, Card


class CardRules(Protocol):
    async def decide(self, card: Card, actor: str, action: Action, inputs: dict[str, Any],
                     at: str) -> Card:
        """The card after `actor` took `action`; raise to refuse."""

    async def after_act(self, before: Card, after: Card) -> None:
        """Effects once the new card is stored: deliveries, records, notices."""


def timeline_entry(card: Card, actor: str, action: Action, inputs: dict[str, Any],
                   at: str) -> dict[str, Any]:
    return {"step": card.status, "actor_id": actor, "decision": action.id,
            "comment": str(inputs.get("comment") or ""), "at": at}


class SimpleRules:
    async def after_act(self, before: Card, after: Card) -> None:
        return None

    async def decide(self, card: Card, actor: str, action: Action, inputs: dict[str, Any],
                     at: str) -> Card:
        timeline = (*card.timeline, timeline_entry(card, actor, action, inputs, at))
        if card.mode == "all" and action.status != "rejected":
            remaining = {u: a for u, a in card.can_act.items() if u != actor}
            status = card.status if remaining else (action.status or "done")
            return replace(card, timeline=timeline, can_act=remaining, status=status)
        return replace(card, timeline=timeline, can_act={}, status=action.status or action.id)
