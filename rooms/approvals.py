"""How the rooms service reaches people: through cards. A booking of a room that needs approval
starts a `room_booking` flow instance for the room's managers, whose decision comes back to the
bookings; what the clock or a manager did to someone's booking reaches them as a notice card."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import tzinfo

from cards.flows.engine import FlowEngine
from cards.models import Card
from cards.service import CardService
from core.clock import iso
from rooms.models import Booking, Room

FLOW = "room_booking"

# (booking ids, approved, the deciding manager, their comment) -> None
Decided = Callable[[list[str], bool, str, str | None], Awaitable[object]]


class RoomApprovals:
    def __init__(self, engine: FlowEngine, tz: tzinfo) -> None:
        self._engine = engine
        self._tz = tz

    async def request(self, booker: str, room: Room, bookings: Sequence[Booking]) -> str:
        """Start one instance for the whole request (every occurrence of a series); the
        card's id."""
        first = bookings[0]
        repeats = ", ".join(f"{b.start.astimezone(self._tz):%m-%d}" for b in bookings[:20])
        if len(bookings) > 20:
            repeats += " …"
        card = await self._engine.start(
            booker, FLOW,
            {"room": room.id, "room_name": room.name, "start": iso(first.start),
             "end": iso(first.end), "subject": first.title, "attendees": first.headcount},
            context={"booking": {"ids": [b.id for b in bookings],
                                 "managers": list(room.managers),
                                 "occurrences": len(bookings), "repeats": repeats}})
        return card.id

    def on_decided(self, decided: Decided) -> None:
        """Call `decided` with the managers' decision on a request this started."""

        async def settled(card: Card) -> None:
            booking = card.meta.get("form", {}).get("booking") if card.flow == FLOW else None
            if not booking:
                return
            last = card.timeline[-1] if card.timeline else {}
            await decided(list(booking["ids"]), card.status != "rejected",
                          str(last.get("actor_id") or "system"), last.get("comment") or None)

        self._engine.on_settled(settled)


class CardNotices:
    def __init__(self, cards: CardService) -> None:
        self._cards = cards

    async def tell(self, user_id: str, title: str, fields: list[tuple[str, str]],
                   status: str) -> None:
        await self._cards.create(kind="notice", title=title, holders=[user_id], fields=fields,
                                 status=status, meta={"about": "room_booking"},
                                 cleared=[user_id])
