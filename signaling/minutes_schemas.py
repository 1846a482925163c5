"""Wire payloads of a meeting's minutes (纪要) (PROTOCOL §6, paperless)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from signaling.meeting_schemas import MeetingId
from signaling.schemas import Strict


class MinutesSave(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    version: int = Field(ge=0)  # the minutes' version the host edited; 0 for the first draft
    summary: str = Field(default="", max_length=5000)
    items: dict[str, str] = Field(default_factory=dict, max_length=50)  # agenda item -> notes


class MinutesSend(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    version: int = Field(ge=1)


class MinutesQuery(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
