"""Wire payloads of the meeting-room catalogue's REST routes (PROTOCOL §5, Catalogue). Room
bodies themselves are checked by the catalogue service (`rooms/forms.py`), whoever calls it."""

from __future__ import annotations

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
