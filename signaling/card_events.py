"""Socket events of cards (PROTOCOL §4)."""

from __future__ import annotations

from typing import Any

from cards.service import CardService
from signaling.card_schemas import CardAct, CardRef
from signaling.gateway import SocketGateway, SocketState


class CardEvents:
    def __init__(self, cards: CardService) -> None:
        self._cards = cards

    def register(self, gateway: SocketGateway) -> None:
        gateway.route("card:get", CardRef, self.card_get)
        gateway.route("card:act", CardAct, self.card_act)

    async def card_get(self, state: SocketState, payload: CardRef) -> dict[str, Any]:
        return {"card": await self._cards.get(state.user_id, payload.card_id)}

    async def card_act(self, state: SocketState, payload: CardAct) -> dict[str, Any]:
        card = await self._cards.act(state.user_id, payload.card_id, payload.action,
                                     payload.version, payload.idempotency_key, payload.inputs)
        return {"card": card}
