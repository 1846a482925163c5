"""Wire payloads of the meeting rooms' routes and events (PROTOCOL §5). Room and booking
bodies themselves are checked by the catalogue service (`rooms/forms.py`), whoever calls it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from signaling.schemas import Strict


class RoomQuery(BaseModel):
    """`GET /api/v1/rooms`: every parameter optional; empty ones count as absent."""

    model_config = Strict
    min_capacity: int | None = Field(default=None, ge=1, le=5000)
    equipment: str | None = Field(default=None, max_length=500)  # comma-separated words
    building: str | None = Field(default=None, max_length=100)
    status: str | None = Field(default=None, max_length=100)  # comma-separated statuses
    include_retired: bool = False
    free_from: str | None = Field(default=None, max_length=40)
    free_to: str | None = Field(default=None, max_length=40)


class AvailabilityQuery(BaseModel):
    """`GET /api/v1/rooms/availability`: one local day (or its week) of busy intervals."""

    model_config = Strict
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    span: Literal["day", "week"] = "day"
    building: str | None = Field(default=None, max_length=100)
    min_capacity: int | None = Field(default=None, ge=1, le=5000)
    equipment: str | None = Field(default=None, max_length=500)


class BookingQuery(BaseModel):
    """`GET /api/v1/bookings`: a room's bookings in a window, or (without `room_id`) the
    caller's own that have not ended."""

    model_config = Strict
    room_id: str | None = Field(default=None, max_length=64)
    start: str | None = Field(default=None, max_length=40, alias="from")
    end: str | None = Field(default=None, max_length=40, alias="to")


class CancelQuery(BaseModel):
    """`DELETE /api/v1/bookings/{id}`: `series` cancels the later occurrences too."""

    model_config = Strict
    series: bool = False
    reason: str | None = Field(default=None, max_length=200)


class RoomsSubscribe(BaseModel):
    """`rooms:subscribe`: the answer holds every room's status (of `building`, if given)."""

    model_config = Strict
    building: str | None = Field(default=None, max_length=100)
