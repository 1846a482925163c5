"""Socket events of meeting rooms (PROTOCOL §5): live room status."""

from __future__ import annotations

from typing import Any

from rooms.live import ROOMS_TOPIC, LiveRooms
from signaling.gateway import SocketGateway, SocketState
from signaling.room_schemas import RoomsSubscribe
from signaling.schemas import Empty


class RoomEvents:
    def __init__(self, live: LiveRooms) -> None:
        self._live = live
        self._gateway: SocketGateway | None = None

    def register(self, gateway: SocketGateway) -> None:
        self._gateway = gateway
        gateway.route("rooms:subscribe", RoomsSubscribe, self.subscribe)
        gateway.route("rooms:unsubscribe", Empty, self.unsubscribe)

    async def subscribe(self, state: SocketState, payload: RoomsSubscribe) -> dict[str, Any]:
        """From now on `room:status` pushes; the answer is where every room stands now."""
        assert self._gateway is not None
        await self._gateway.sio.enter_room(state.sid, ROOMS_TOPIC)
        return {"rooms": await self._live.snapshot(payload.building)}

    async def unsubscribe(self, state: SocketState, _: Empty) -> dict[str, Any]:
        assert self._gateway is not None
        await self._gateway.sio.leave_room(state.sid, ROOMS_TOPIC)
        return {}
