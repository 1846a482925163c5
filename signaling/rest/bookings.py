"""Bookings' routes and the availability grid (PROTOCOL §5, Bookings)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from core.errors import BadRequest
from meetings.records import Meeting, MeetingService
from rooms.bookings import BookingService
from rooms.catalogue import RoomCatalogue
from rooms.forms import a_moment, refusal
from rooms.models import Booking
from signaling.errors import json_response, parse
from signaling.meeting_schemas import MeetingPlan
from signaling.rest.common import RequestContext, read_json
from signaling.rest.rooms import words
from signaling.room_schemas import AvailabilityQuery, BookingQuery, CancelQuery

BOOKING = "/api/v1/bookings/{booking_id}"
# The longest window a room's bookings are listed for at once.
MAX_LIST_DAYS = 92


def _query(request: web.Request) -> dict[str, Any]:
    return {k: v for k, v in request.query.items() if v != ""}


def _meeting_plan(body: Any) -> MeetingPlan | None:
    """The `meeting` a booking request asks for, taken out of the booking's own form."""
    if not isinstance(body, dict) or "meeting" not in body:
        return None
    plan = parse(MeetingPlan, body.pop("meeting"), prefix="meeting")
    if body.get("recurrence") is not None:
        raise BadRequest("meeting: a meeting is held in one booking, not a series; "
                         "book the series, then create a meeting for an occurrence")
    return plan


def _many(bookings: list[Booking]) -> dict[str, Any]:
    return {"booking": bookings[0].to_wire() if bookings else None,
            "bookings": [b.to_wire() for b in bookings]}


class BookingRoutes:
    def __init__(self, bookings: BookingService, catalogue: RoomCatalogue,
                 context: RequestContext, meetings: MeetingService) -> None:
        self._bookings = bookings
        self._catalogue = catalogue
        self._context = context
        self._meetings = meetings

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/rooms/availability", self.availability)
        app.router.add_post("/api/v1/bookings", self.book)
        app.router.add_get("/api/v1/bookings", self.list)
        app.router.add_get(BOOKING, self.get)
        app.router.add_delete(BOOKING, self.cancel)
        app.router.add_post(BOOKING + "/checkin", self.check_in)

    async def book(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        body = await read_json(request)
        plan = _meeting_plan(body)
        booked = await self._bookings.book(identity.user.id, body)
        answer = {**_many(booked.bookings), "skipped": booked.skipped}
        if plan is not None:
            answer["meeting"] = (await self._hold_meeting(identity.user.id, plan,
                                                          booked.bookings[0])).to_wire()
        return json_response(answer, status=201)

    async def _hold_meeting(self, user_id: str, plan: MeetingPlan, booking: Booking) -> Meeting:
        """The meeting the booking request asked for; if it cannot be created, the booking
        is cancelled again (both or neither) and the meeting's refusal answers."""
        try:
            return await self._meetings.create(user_id, plan.request(booking.title, booking.id))
        except Exception:
            await self._bookings.cancel(user_id, booking.id,
                                        reason="the meeting asked for could not be created")
            raise

    async def list(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        query = parse(BookingQuery, _query(request))
        if query.room_id is None:
            if query.start is not None or query.end is not None:
                raise refusal("room_id", "from and to list one room's bookings")
            found = await self._bookings.of_person(identity.user.id)
            return json_response({"bookings": [b.to_wire() for b in found]})
        if query.start is None or query.end is None:
            raise refusal("from" if query.start is None else "to",
                          "a room's bookings are listed from a time to a time")
        start, end = a_moment(query.start, "from"), a_moment(query.end, "to")
        if end <= start:
            raise refusal("to", "not after from")
        if end - start > timedelta(days=MAX_LIST_DAYS):
            raise refusal("to", f"at most {MAX_LIST_DAYS} days after from")
        found = await self._bookings.of_room(query.room_id, start, end)
        return json_response({"bookings": [b.to_wire() for b in found]})

    async def get(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        booking = await self._bookings.get(request.match_info["booking_id"])
        return json_response({"booking": booking.to_wire()})

    async def cancel(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        query = parse(CancelQuery, _query(request))
        cancelled = await self._bookings.cancel(identity.user.id,
                                                request.match_info["booking_id"],
                                                query.series, query.reason)
        return json_response(_many(cancelled))

    async def check_in(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        booking = await self._bookings.check_in(identity.user.id,
                                                request.match_info["booking_id"])
        return json_response({"booking": booking.to_wire()})

    async def availability(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        query = parse(AvailabilityQuery, _query(request))
        try:
            day = date.fromisoformat(query.date)
        except ValueError as exc:
            raise refusal("date", "a date YYYY-MM-DD") from exc
        rooms = await self._catalogue.search(min_capacity=query.min_capacity,
                                             equipment=words(query.equipment),
                                             building=query.building)
        grid = await self._bookings.grid(day, query.span == "week", rooms)
        return json_response({"date": query.date, "span": query.span, **grid})
