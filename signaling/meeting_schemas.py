"""Wire payloads of meetings and their WebRTC signalling (PROTOCOL §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from meetings.records import MeetingRequest
from signaling.schemas import Strict

MeetingId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
Sdp = Field(min_length=1, max_length=200_000)


class AgendaItemIn(BaseModel):
    model_config = Strict
    id: str | None = Field(default=None, min_length=1, max_length=40)  # kept from before
    title: str = Field(min_length=1, max_length=200)
    presenter: str | None = Field(default=None, min_length=1, max_length=64)
    minutes: int | None = Field(default=None, ge=1, le=600)


class MeetingPlan(BaseModel):
    """A meeting as a booking request asks for it (`POST /api/v1/bookings` with `meeting`):
    the booking gives its room, time and title (unless given) and its attendees come too."""

    model_config = Strict
    title: str | None = Field(default=None, min_length=1, max_length=200)
    invitees: list[str] = Field(default_factory=list, max_length=500)
    hosts: list[str] = Field(default_factory=list, max_length=20)
    open: bool = False
    confidential: bool = False
    agenda: list[AgendaItemIn] = Field(default_factory=list, max_length=50)

    def request(self, title: str, booking_id: str | None = None,
                start: datetime | None = None, end: datetime | None = None) -> MeetingRequest:
        return MeetingRequest(
            title=self.title or title, invitees=tuple(self.invitees), hosts=tuple(self.hosts),
            booking_id=booking_id, open=self.open, confidential=self.confidential,
            agenda=tuple(i.model_dump(exclude_none=True) for i in self.agenda),
            start=start, end=end)


class MeetingCreate(MeetingPlan):
    title: str = Field(min_length=1, max_length=200)
    booking_id: str | None = Field(default=None, max_length=100)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    def to_request(self) -> MeetingRequest:
        return self.request(self.title, self.booking_id, self.start, self.end)


class MeetingCancel(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class MeetingAgenda(BaseModel):
    model_config = Strict
    meeting_id: str = MeetingId
    agenda_version: int = Field(ge=0)  # the meeting's `agenda_version` the host edited
    agenda: list[AgendaItemIn] = Field(max_length=50)


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
