"""Wire payloads of votes (表决) in paperless meetings (docs/protocol.md §6, Votes)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from meetings.votes import MAX_OPTIONS, MIN_OPTIONS
from signaling.meeting_schemas import MeetingId
from signaling.schemas import Strict

MotionId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
Option = Annotated[str, Field(min_length=1, max_length=200)]


class MotionOpen(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    title: str = Field(min_length=1, max_length=200)
    options: list[Option] = Field(min_length=MIN_OPTIONS, max_length=MAX_OPTIONS)
    rule: Literal["simple_majority", "two_thirds"]
    # Secrecy is not guessed from "yes" or 1: only true or false.
    anonymous: StrictBool = False


class VoteCast(BaseModel):
    model_config = Strict
    motion_id: str = MotionId
    option: Option


class MotionRef(BaseModel):
    model_config = Strict
    motion_id: str = MotionId


class MotionsQuery(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
