"""Socket events of a meeting's minutes (纪要) (PROTOCOL §6, paperless): hosts draft and send
them; the sign-off and the signed minutes reach people as cards."""

from __future__ import annotations

from typing import Any

from meetings.minutes import MinutesService
from signaling.gateway import SocketGateway, SocketState
from signaling.minutes_schemas import MinutesQuery, MinutesSave, MinutesSend


class MinutesEvents:
    def __init__(self, minutes: MinutesService) -> None:
        self._minutes = minutes

    def register(self, gateway: SocketGateway) -> None:
        gateway.route("meeting:minutes:save", MinutesSave, self.save)
        gateway.route("meeting:minutes:send", MinutesSend, self.send)
        gateway.route("meeting:minutes", MinutesQuery, self.get)

    async def save(self, state: SocketState, payload: MinutesSave) -> dict[str, Any]:
        minutes = await self._minutes.save(state.user_id, payload.meeting_id, payload.version,
                                           payload.summary, payload.items)
        return {"minutes": minutes.to_wire()}

    async def send(self, state: SocketState, payload: MinutesSend) -> dict[str, Any]:
        minutes = await self._minutes.send(state.user_id, payload.meeting_id, payload.version)
        return {"minutes": minutes.to_wire()}

    async def get(self, state: SocketState, payload: MinutesQuery) -> dict[str, Any]:
        minutes = await self._minutes.get(state.user_id, payload.meeting_id)
        return {"minutes": minutes.to_wire()}
