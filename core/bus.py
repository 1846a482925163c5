"""Domain events: services publish them, the edge delivers them to sockets on every node."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    """`name` is the wire event; `audience` the user ids who receive it; `topics` named
    audiences (such as the watchers of one user's presence) that the edge keeps itself."""

    name: str
    payload: dict[str, Any]
    audience: frozenset[str] = field(default_factory=frozenset)
    topics: tuple[str, ...] = ()


Subscriber = Callable[[DomainEvent], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: DomainEvent) -> None:
        for subscriber in self._subscribers:
            try:
                await subscriber(event)
            except Exception:
                # A delivery failure must not undo a write the database already acknowledged.
                log.exception("delivering %s failed", event.name)
