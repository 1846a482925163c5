"""Meetings (docs/protocol.md §6): `client.meetings`, with signalling, host controls,
sign-in, votes, minutes, recording and materials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from xietong_sdk.base import Area, fields, seg
from xietong_sdk.models import (
    AgendaItem,
    Attendance,
    Checkin,
    Joined,
    Material,
    Materials,
    Meeting,
    Minutes,
    Motion,
    MotionClosed,
    Recordings,
    RecordingState,
    RtcAnswer,
)

Video = Literal["all"] | Mapping[str, int] | Sequence[str]


def _agenda(items: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    return [dict(item) for item in items] if items is not None else None


class Meetings(Area):
    # the meeting ---------------------------------------------------------------------------

    async def create(self, title: str, invitees: Sequence[str], *,
                     hosts: Sequence[str] | None = None, booking_id: str | None = None,
                     start: str | None = None, end: str | None = None,
                     agenda: Sequence[Mapping[str, Any]] | None = None,
                     open: bool | None = None, confidential: bool | None = None) -> Meeting:
        data = await self._call("meeting:create", fields(
            title=title, invitees=list(invitees), hosts=list(hosts) if hosts else None,
            booking_id=booking_id, start=start, end=end, agenda=_agenda(agenda), open=open,
            confidential=confidential))
        return cast(Meeting, data["meeting"])

    async def get(self, meeting_id: str) -> Meeting:
        return await self._meeting("meeting:get", {"meeting_id": meeting_id}, retry=True)

    async def join(self, meeting_id: str) -> Joined:
        return cast(Joined, await self._call("meeting:join", {"meeting_id": meeting_id}))

    async def leave(self, meeting_id: str) -> None:
        await self._call("meeting:leave", {"meeting_id": meeting_id})

    async def end(self, meeting_id: str) -> Meeting:
        return await self._meeting("meeting:end", {"meeting_id": meeting_id})

    async def cancel(self, meeting_id: str, reason: str | None = None) -> Meeting:
        return await self._meeting("meeting:cancel", fields(meeting_id=meeting_id,
                                                            reason=reason))

    async def set_agenda(self, meeting_id: str, agenda_version: int,
                         agenda: Sequence[Mapping[str, Any] | AgendaItem]) -> Meeting:
        """Replace the agenda edited at `agenda_version` (else `Conflict`)."""
        return await self._meeting("meeting:agenda", {
            "meeting_id": meeting_id, "agenda_version": agenda_version,
            "agenda": [dict(item) for item in agenda]})

    # signalling ----------------------------------------------------------------------------

    async def offer(self, meeting_id: str, sdp: str,
                    sources: Mapping[str, str] | None = None) -> RtcAnswer:
        """`rtc:offer`: the media node's SDP answer."""
        return cast(RtcAnswer, await self._call("rtc:offer", fields(
            meeting_id=meeting_id, sdp=sdp, sources=dict(sources) if sources else None)))

    async def answer(self, meeting_id: str, sdp: str) -> None:
        """`rtc:answer` to an offer the server pushed."""
        await self._call("rtc:answer", {"meeting_id": meeting_id, "sdp": sdp})

    async def subscribe(self, meeting_id: str, video: Video = "all") -> None:
        """Which videos to receive: `"all"`, `{"last_n": n}` or a list of session ids."""
        chosen: Any = video if isinstance(video, str) else (
            dict(video) if isinstance(video, Mapping) else list(video))
        await self._call("meeting:subscribe", {"meeting_id": meeting_id, "video": chosen},
                         retry=True)

    # host controls -------------------------------------------------------------------------

    async def mute(self, meeting_id: str, user_id: str, muted: bool = True) -> Meeting:
        return await self._meeting("meeting:mute", {"meeting_id": meeting_id,
                                                    "user_id": user_id, "muted": muted})

    async def remove(self, meeting_id: str, user_id: str) -> Meeting:
        return await self._meeting("meeting:remove", {"meeting_id": meeting_id,
                                                      "user_id": user_id})

    async def lock(self, meeting_id: str, locked: bool = True) -> Meeting:
        return await self._meeting("meeting:lock", {"meeting_id": meeting_id,
                                                    "locked": locked})

    async def hand_over(self, meeting_id: str, user_id: str, keep: bool = False) -> Meeting:
        """`meeting:host`: make `user_id` a host; `keep` stays one too."""
        return await self._meeting("meeting:host", {"meeting_id": meeting_id,
                                                    "user_id": user_id, "keep": keep})

    async def hand(self, meeting_id: str, raised: bool = True,
                   user_id: str | None = None) -> None:
        """Raise or lower one's hand; a host lowers someone else's with `user_id`."""
        await self._call("meeting:hand", fields(meeting_id=meeting_id, raised=raised,
                                                user_id=user_id))

    # sign-in -------------------------------------------------------------------------------

    async def checkin(self, meeting_id: str, via: Literal["meeting", "room"] = "meeting"
                      ) -> Checkin:
        data = await self._call("meeting:checkin", {"meeting_id": meeting_id, "via": via})
        return cast(Checkin, data["checkin"])

    async def attendance(self, meeting_id: str) -> Attendance:
        data = await self._call("meeting:attendance", {"meeting_id": meeting_id}, retry=True)
        return cast(Attendance, data["attendance"])

    # votes ---------------------------------------------------------------------------------

    async def open_motion(self, meeting_id: str, title: str, options: Sequence[str],
                          rule: Literal["simple_majority", "two_thirds"] = "simple_majority",
                          anonymous: bool = False) -> Motion:
        data = await self._call("meeting:motion:open", {
            "meeting_id": meeting_id, "title": title, "options": list(options), "rule": rule,
            "anonymous": anonymous})
        return cast(Motion, data["motion"])

    async def vote(self, motion_id: str, option: str) -> None:
        await self._call("meeting:vote", {"motion_id": motion_id, "option": option})

    async def close_motion(self, motion_id: str) -> MotionClosed:
        return cast(MotionClosed, await self._call("meeting:motion:close",
                                                   {"motion_id": motion_id}))

    async def motions(self, meeting_id: str) -> list[Motion]:
        data = await self._call("meeting:motions", {"meeting_id": meeting_id}, retry=True)
        return cast(list[Motion], data["motions"])

    # minutes -------------------------------------------------------------------------------

    async def minutes(self, meeting_id: str) -> Minutes:
        data = await self._call("meeting:minutes", {"meeting_id": meeting_id}, retry=True)
        return cast(Minutes, data["minutes"])

    async def save_minutes(self, meeting_id: str, version: int, *, summary: str | None = None,
                           items: Mapping[str, str] | None = None) -> Minutes:
        """Save the draft edited at `version` (0 for the first); else `Conflict`."""
        data = await self._call("meeting:minutes:save", fields(
            meeting_id=meeting_id, version=version, summary=summary,
            items=dict(items) if items is not None else None))
        return cast(Minutes, data["minutes"])

    async def send_minutes(self, meeting_id: str, version: int) -> Minutes:
        data = await self._call("meeting:minutes:send", {"meeting_id": meeting_id,
                                                         "version": version})
        return cast(Minutes, data["minutes"])

    # recording -----------------------------------------------------------------------------

    async def record(self, meeting_id: str, recording: bool = True) -> RecordingState:
        data = await self._call("meeting:record", {"meeting_id": meeting_id,
                                                   "recording": recording}, retry=True)
        return cast(RecordingState, data["recording"])

    async def recordings(self, meeting_id: str) -> Recordings:
        return cast(Recordings, await self._call("meeting:recordings",
                                                 {"meeting_id": meeting_id}, retry=True))

    async def download_recording(self, meeting_id: str, file_id: str) -> bytes:
        return await self._rest.download(
            f"/api/v1/meetings/{seg(meeting_id)}/recordings/{seg(file_id)}", seconds=300)

    # materials (REST) ----------------------------------------------------------------------

    async def upload_material(self, meeting_id: str, item_id: str, name: str,
                              data: bytes) -> Material:
        answer = await self._rest.request(
            "POST", f"/api/v1/meetings/{seg(meeting_id)}/materials", raw=data,
            params={"item_id": item_id, "name": name})
        return cast(Material, answer["material"])

    async def materials(self, meeting_id: str) -> Materials:
        return cast(Materials, await self._rest.request(
            "GET", f"/api/v1/meetings/{seg(meeting_id)}/materials"))

    async def download_material(self, meeting_id: str, material_id: str) -> bytes:
        return await self._rest.download(
            f"/api/v1/meetings/{seg(meeting_id)}/materials/{seg(material_id)}")

    async def delete_material(self, meeting_id: str, material_id: str) -> None:
        await self._rest.request(
            "DELETE", f"/api/v1/meetings/{seg(meeting_id)}/materials/{seg(material_id)}")

    async def _meeting(self, event: str, payload: dict[str, Any], *,
                       retry: bool = False) -> Meeting:
        return cast(Meeting, (await self._call(event, payload, retry=retry))["meeting"])
