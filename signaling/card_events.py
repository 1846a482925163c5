"""Socket events of cards (PROTOCOL §4)."""

from __future__ import annotations

from typing import Any

from cards.flows.delegation import Delegations
from cards.flows.engine import FlowEngine
from cards.service import CardService
from signaling.card_schemas import CardAct, CardRef, CardShare, Delegate, FlowList, FlowStart
from signaling.gateway import SocketGateway, SocketState


class CardEvents:
    def __init__(self, cards: CardService, flows: FlowEngine,
                 delegations: Delegations) -> None:
        self._cards = cards
        self._flows = flows
        self._delegations = delegations

    def register(self, gateway: SocketGateway) -> None:
        gateway.route("card:get", CardRef, self.card_get)
        gateway.route("card:act", CardAct, self.card_act)
        gateway.route("card:share", CardShare, self.card_share)
        gateway.route("flow:start", FlowStart, self.flow_start)
        gateway.route("flow:list", FlowList, self.flow_list)
        gateway.route("flow:delegate", Delegate, self.flow_delegate)

    async def card_get(self, state: SocketState, payload: CardRef) -> dict[str, Any]:
        return {"card": await self._cards.get(state.user_id, payload.card_id)}

    async def card_act(self, state: SocketState, payload: CardAct) -> dict[str, Any]:
        card = await self._cards.act(state.user_id, payload.card_id, payload.action,
                                     payload.version, payload.idempotency_key, payload.inputs)
        return {"card": card}

    async def card_share(self, state: SocketState, payload: CardShare) -> dict[str, Any]:
        return await self._cards.share(state.user_id, payload.card_id, payload.conv_id)

    async def flow_start(self, state: SocketState, payload: FlowStart) -> dict[str, Any]:
        card = await self._flows.start(state.user_id, payload.flow, payload.form)
        return {"instance_id": card.id, "card_id": card.id, "card": card.view(state.user_id)}

    async def flow_list(self, state: SocketState, payload: FlowList) -> dict[str, Any]:
        return await self._flows.list_box(state.user_id, payload.box, payload.limit)

    async def flow_delegate(self, state: SocketState, payload: Delegate) -> dict[str, Any]:
        if payload.to is not None:
            await self._flows.require_person(payload.to)
        return await self._delegations.set(state.user_id, payload.to, payload.until)
