"""Wire payloads of meetings and their WebRTC signalling (PROTOCOL §6)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from signaling.schemas import Strict

MeetingId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
Sdp = Field(min_length=1, max_length=200_000)


class MeetingCreate(BaseModel):
    model_config = Strict
    title: str = Field(min_length=1, max_length=200)
    invitees: list[str] = Field(default_factory=list, max_length=500)
    booking_id: str | None = Field(default=None, max_length=100)
    open: bool = False


class MeetingRef(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId


class RtcOffer(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    sdp: str = Sdp
    # mid or track id -> what the track is; audio defaults to the microphone, the first video
    # to the camera and a second to the screen.
    sources: dict[str, Literal["camera", "microphone", "screen"]] = Field(
        default_factory=dict, max_length=16)


class RtcAnswer(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    sdp: str = Sdp


class LastN(BaseModel):
    model_config = Strict
    last_n: int = Field(ge=0, le=100)


class MeetingSubscribe(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    video: Literal["all"] | LastN | list[str] = "all"


UserId = Field(min_length=1, max_length=64)


class MeetingMute(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    user_id: str = UserId
    muted: bool = True


class MeetingRemove(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    user_id: str = UserId


class MeetingLock(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    locked: bool = True


class MeetingHost(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    user_id: str = UserId
    keep: bool = False  # stay a host too (a co-host) instead of handing the role over


class MeetingHand(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    raised: bool = True
    user_id: str | None = Field(default=None, min_length=1, max_length=64)  # a host lowering
