"""The meeting-room catalogue's routes (PROTOCOL §5, Catalogue).

`/api/v1/rooms/availability` belongs to the bookings routes: a room id never matches it here,
so it works whichever of the two registers first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from core.errors import BadRequest
from rooms.catalogue import BusyRooms, RoomCatalogue
from rooms.forms import a_moment, refusal
from rooms.models import RoomStatus
from signaling.errors import json_response, parse
from signaling.rest.common import RequestContext, read_json
from signaling.room_schemas import RoomQuery

ROOM = "/api/v1/rooms/{room_id:(?!availability$)[^/]+}"
# The longest free window searched for at once.
MAX_WINDOW = timedelta(days=7)


def words(value: str | None) -> list[str]:
    return [w.strip() for w in (value or "").split(",") if w.strip()]


def _window(query: RoomQuery) -> tuple[datetime, datetime] | None:
    if query.free_from is None and query.free_to is None:
        return None
    if query.free_from is None or query.free_to is None:
        missing = "free_from" if query.free_from is None else "free_to"
        raise refusal(missing, "free_from and free_to go together")
    start, end = a_moment(query.free_from, "free_from"), a_moment(query.free_to, "free_to")
    if end <= start:
        raise refusal("free_to", "not after free_from")
    if end - start > MAX_WINDOW:
        raise refusal("free_to", f"at most {MAX_WINDOW.days} days after free_from")
    return start, end


def _statuses(value: str | None) -> list[RoomStatus] | None:
    if value is None:
        return None
    statuses = []
    for word in words(value):
        try:
            statuses.append(RoomStatus(word))
        except ValueError as exc:
            raise refusal("status", f"{word!r} is not one of "
                          f"{', '.join(s.value for s in RoomStatus)}") from exc
    return statuses or None


def _version(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise refusal("version", "a positive integer")
    return value


class RoomRoutes:
    def __init__(self, catalogue: RoomCatalogue, context: RequestContext,
                 availability: BusyRooms | None = None) -> None:
        self._catalogue = catalogue
        self._context = context
        # The bookings' answer to "which of these rooms are busy then"; without it (the
        # catalogue served alone) every room counts as free in any window.
        self._availability = availability

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/rooms", self.search)
        app.router.add_post("/api/v1/rooms", self.create)
        app.router.add_get("/api/v1/rooms/scopes/{user_id}", self.get_scope)
        app.router.add_put("/api/v1/rooms/scopes/{user_id}", self.set_scope)
        app.router.add_get(ROOM, self.get)
        app.router.add_patch(ROOM, self.update)
        app.router.add_delete(ROOM, self.retire)
        app.router.add_get(ROOM + "/edits", self.edits)

    async def search(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        raw: dict[str, Any] = {}
        for key in request.query:
            values = [v for v in request.query.getall(key) if v != ""]
            if values:
                raw[key] = ",".join(values) if key in ("equipment", "status") else values[0]
        query = parse(RoomQuery, raw)
        window = _window(query)
        rooms = await self._catalogue.search(
            min_capacity=query.min_capacity, equipment=words(query.equipment),
            building=query.building, statuses=_statuses(query.status),
            include_retired=query.include_retired)
        if window is not None and self._availability is not None and rooms:
            busy = await self._availability.busy_rooms([r.id for r in rooms], *window)
            rooms = [r for r in rooms if r.id not in busy]
        return json_response({"rooms": [r.to_wire() for r in rooms]})

    async def create(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        room = await self._catalogue.create(identity.user.id, await read_json(request))
        return json_response({"room": room.to_wire()}, status=201)

    async def get(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        room = await self._catalogue.get(request.match_info["room_id"])
        return json_response({"room": room.to_wire()})

    async def update(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("payload must be a JSON object")
        version = _version(body.pop("version", None))
        room = await self._catalogue.update(identity.user.id, request.match_info["room_id"],
                                            body, version)
        return json_response({"room": room.to_wire()})

    async def retire(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        room = await self._catalogue.retire(identity.user.id, request.match_info["room_id"],
                                            _version(request.query.get("version")))
        return json_response({"room": room.to_wire()})

    async def edits(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        edits = await self._catalogue.edits(identity.user.id, request.match_info["room_id"])
        return json_response({"edits": [e.to_wire() for e in edits]})

    async def get_scope(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        scope = await self._catalogue.get_scope(identity.user.id, request.match_info["user_id"])
        return json_response({"scope": scope.to_wire()})

    async def set_scope(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        scope = await self._catalogue.set_scope(identity.user.id, request.match_info["user_id"],
                                                await read_json(request))
        return json_response({"scope": scope.to_wire()})
