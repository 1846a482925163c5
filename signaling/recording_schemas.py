"""Wire payloads of meeting recording (PROTOCOL §6, Recording)."""

from __future__ import annotations

from pydantic import BaseModel, StrictBool

from signaling.meeting_schemas import MeetingId
from signaling.schemas import Strict


class MeetingRecord(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    # Start (true) or stop (false); hosts only. Strict: a 1 or "yes" starts nothing.
    recording: StrictBool


class MeetingRecordings(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
