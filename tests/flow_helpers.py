"""Small steps the flow tests share."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from tests.conftest import Client

_keys = itertools.count()


def leave(days: int, start: str = "2026-12-01", **extra: Any) -> dict[str, Any]:
    end = f"2026-12-{days:02d}"
    return {"flow": "leave", "form": {"leave_type": "annual", "start": start, "end": end,
                                      "reason": "回老家", **extra}}


async def decide(client: Client, card_id: str, action: str = "approve",
                 comment: str = "", **inputs: str) -> dict[str, Any]:
    card = (await client.ok("card:get", {"card_id": card_id}))["card"]
    if comment:
        inputs["comment"] = comment
    return (await client.ok("card:act", {"card_id": card_id, "action": action,
                                         "version": card["version"],
                                         "idempotency_key": f"k{next(_keys)}",
                                         "inputs": inputs}))["card"]


def card_message(card_id: str) -> Callable[[Any], bool]:
    """A `msg:new` carrying this card."""
    return lambda d: (d["message"].get("card") or {}).get("card_id") == card_id


def titled(prefix: str) -> Callable[[Any], bool]:
    """A `msg:new` carrying a card whose title starts so."""
    return lambda d: d["message"]["type"] == "card" and \
        d["message"]["card"]["title"].startswith(prefix)


def actions_of(card: dict[str, Any]) -> list[str]:
    return [a["id"] for a in card["actions"]]
