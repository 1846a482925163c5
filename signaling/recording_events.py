"""Socket events of meeting recording (PROTOCOL §6, Recording): hosts start and stop it, the
meeting's media node records, members list the files (and download them over REST,
signaling/rest/recordings.py)."""

from __future__ import annotations

import logging
from typing import Any

from core.bus import DomainEvent
from media.router import MediaRouter
from meetings.recordings import RecordingService
from signaling.gateway import SocketGateway, SocketState
from signaling.recording_schemas import MeetingRecord, MeetingRecordings

log = logging.getLogger(__name__)


class RecordingEvents:
    def __init__(self, recordings: RecordingService, router: MediaRouter) -> None:
        self._recordings = recordings
        self._router = router
        self._gateway: SocketGateway | None = None

    def register(self, gateway: SocketGateway) -> None:
        self._gateway = gateway
        gateway.route("meeting:record", MeetingRecord, self.record)
        gateway.route("meeting:recordings", MeetingRecordings, self.listing)

    async def record(self, state: SocketState, payload: MeetingRecord) -> dict[str, Any]:
        meeting, recording, changed = await self._recordings.set_recording(
            payload.meeting_id, state.user_id, payload.recording)
        if changed:
            assert self._gateway is not None
            await self._gateway.deliver(DomainEvent(
                "meeting:recording", {"meeting_id": meeting.id, "recording": recording.on,
                                      "recording_id": recording.recording_id,
                                      "by": state.user_id},
                meeting.members))
        # Also when nothing changed: telling the media node again is harmless (it applies
        # each decision once, by its number) and repairs a node that missed it.
        await self._router.call(meeting.id, "record", recording.decision())
        return {"recording": recording.to_wire()}

    async def listing(self, state: SocketState, payload: MeetingRecordings) -> dict[str, Any]:
        recording = await self._recordings.state(payload.meeting_id, state.user_id)
        files = await self._recordings.files(payload.meeting_id, state.user_id)
        return {"recording": recording.to_wire(), "recordings": [f.to_wire() for f in files]}
