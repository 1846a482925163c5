"""Wire payloads of a meeting's sign-in (签到) and attendance (PROTOCOL §6, paperless)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from signaling.meeting_schemas import MeetingId
from signaling.schemas import Strict


class MeetingCheckin(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    # "room": on arrival in the meeting's booked room; "meeting": from the meeting itself.
    via: Literal["meeting", "room"]


class AttendanceQuery(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
