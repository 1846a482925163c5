"""Meeting rooms and bookings (docs/protocol.md §5): `client.rooms` and `client.bookings`.
The catalogue and bookings are REST; the rooms' live status is a socket subscription."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, cast

from xietong_sdk.base import Area, Call, Caller, fields, seg
from xietong_sdk.models import (
    Availability,
    Booked,
    Booking,
    Cancelled,
    Room,
    RoomEdit,
    RoomScope,
    RoomStatus,
)


def _words(values: Sequence[str] | None) -> str | None:
    return ",".join(values) if values else None


class Rooms(Area):
    def __init__(self, client: Caller) -> None:
        super().__init__(client)
        self.subscription: dict[str, Any] | None = None  # what rooms:subscribe was given

    async def list(self, *, min_capacity: int | None = None,
                   equipment: Sequence[str] | None = None, building: str | None = None,
                   status: Sequence[str] | None = None, include_retired: bool | None = None,
                   free_from: str | None = None, free_to: str | None = None
                   ) -> builtins.list[Room]:
        """Rooms matching every filter given, smallest first."""
        answer = await self._rest.request("GET", "/api/v1/rooms", params=fields(
            min_capacity=min_capacity, equipment=_words(equipment), building=building,
            status=_words(status), include_retired=include_retired, free_from=free_from,
            free_to=free_to))
        return cast(builtins.list[Room], answer["rooms"])

    async def get(self, room_id: str) -> Room:
        return cast(Room, (await self._rest.request("GET", f"/api/v1/rooms/{seg(room_id)}"))
                    ["room"])

    async def create(self, room: Mapping[str, Any]) -> Room:
        """Admins and room managers within their scope."""
        return cast(Room, (await self._rest.request("POST", "/api/v1/rooms", dict(room)))
                    ["room"])

    async def update(self, room_id: str, changes: Mapping[str, Any],
                     version: int | None = None) -> Room:
        """Set the fields named; with `version`, only at that version (else `Conflict`)."""
        body = {**changes, **fields(version=version)}
        return cast(Room, (await self._rest.request(
            "PATCH", f"/api/v1/rooms/{seg(room_id)}", body))["room"])

    async def retire(self, room_id: str, version: int | None = None) -> Room:
        return cast(Room, (await self._rest.request(
            "DELETE", f"/api/v1/rooms/{seg(room_id)}", params=fields(version=version)))["room"])

    async def edits(self, room_id: str) -> builtins.list[RoomEdit]:
        answer = await self._rest.request("GET", f"/api/v1/rooms/{seg(room_id)}/edits")
        return cast(builtins.list[RoomEdit], answer["edits"])

    async def availability(self, date: str, *, span: str | None = None,
                           building: str | None = None, min_capacity: int | None = None,
                           equipment: Sequence[str] | None = None) -> Availability:
        """Busy intervals of the local day (`span="week"`: its week) per room."""
        return cast(Availability, await self._rest.request(
            "GET", "/api/v1/rooms/availability", params=fields(
                date=date, span=span, building=building, min_capacity=min_capacity,
                equipment=_words(equipment))))

    async def scope(self, user_id: str) -> RoomScope:
        answer = await self._rest.request("GET", f"/api/v1/rooms/scopes/{seg(user_id)}")
        return cast(RoomScope, answer["scope"])

    async def set_scope(self, user_id: str, *, buildings: Sequence[str] | None = None,
                        dept_ids: Sequence[str] | None = None) -> RoomScope:
        """Admins: replace whom a room manager's scope covers."""
        answer = await self._rest.request("PUT", f"/api/v1/rooms/scopes/{seg(user_id)}", fields(
            buildings=list(buildings) if buildings is not None else None,
            dept_ids=list(dept_ids) if dept_ids is not None else None))
        return cast(RoomScope, answer["scope"])

    async def subscribe(self, building: str | None = None) -> builtins.list[RoomStatus]:
        """Every room's status now; `room:status` pushes follow on every change. The client
        subscribes again after each reconnect and delivers the statuses then as
        `room:status` events."""
        data = await self._call("rooms:subscribe", fields(building=building), retry=True)
        self.subscription = fields(building=building)
        return cast(builtins.list[RoomStatus], data["rooms"])

    async def unsubscribe(self) -> None:
        self.subscription = None
        await self._call("rooms:unsubscribe", {}, retry=True)

    async def restore(self, call: Call) -> builtins.list[tuple[str, Any]]:
        """Subscribe the new socket again; the statuses it answers, as pushes."""
        if self.subscription is None:
            return []
        data = await call("rooms:subscribe", self.subscription)
        return [("room:status", status) for status in data["rooms"]]


class Bookings(Area):
    async def create(self, room_id: str, title: str, start: str, end: str, *,
                     attendees: Sequence[str] | None = None, headcount: int | None = None,
                     recurrence: Mapping[str, Any] | None = None, partial: bool | None = None,
                     meeting: Mapping[str, Any] | None = None) -> Booked:
        """Book a room (times ISO 8601 with zone). A clash raises `Conflict` with
        `details["conflicts"]`; `meeting` also creates a meeting in the booking."""
        return cast(Booked, await self._rest.request("POST", "/api/v1/bookings", fields(
            room_id=room_id, title=title, start=start, end=end,
            attendees=list(attendees) if attendees is not None else None, headcount=headcount,
            recurrence=dict(recurrence) if recurrence else None, partial=partial,
            meeting=dict(meeting) if meeting is not None else None)))

    async def get(self, booking_id: str) -> Booking:
        answer = await self._rest.request("GET", f"/api/v1/bookings/{seg(booking_id)}")
        return cast(Booking, answer["booking"])

    async def list(self, *, room_id: str | None = None, start: str | None = None,
                   end: str | None = None) -> builtins.list[Booking]:
        """The caller's own bookings not yet ended, or (`room_id`) the room's in a window."""
        answer = await self._rest.request("GET", "/api/v1/bookings", params={
            "room_id": room_id, "from": start, "to": end})
        return cast(builtins.list[Booking], answer["bookings"])

    async def cancel(self, booking_id: str, *, series: bool | None = None,
                     reason: str | None = None) -> Cancelled:
        return cast(Cancelled, await self._rest.request(
            "DELETE", f"/api/v1/bookings/{seg(booking_id)}",
            params=fields(series=series, reason=reason)))

    async def checkin(self, booking_id: str) -> Booking:
        answer = await self._rest.request("POST", f"/api/v1/bookings/{seg(booking_id)}/checkin")
        return cast(Booking, answer["booking"])
