"""Download of a meeting's recorded files (PROTOCOL §6, Recording): members only, streamed
from GridFS, so any node serves a file whichever media node recorded it."""

from __future__ import annotations

from aiohttp import web

from meetings.recordings import CONTENT_TYPE, RecordingService
from signaling.rest.common import RequestContext
from signaling.rest.transfer import attachment_headers, stream_attachment


class RecordingRoutes:
    def __init__(self, recordings: RecordingService, context: RequestContext) -> None:
        self._recordings = recordings
        self._context = context

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/meetings/{meeting_id}/recordings/{recording_id}",
                           self.download)

    async def download(self, request: web.Request) -> web.StreamResponse:
        identity = await self._context.identity(request)
        recorded, chunks = await self._recordings.open(
            request.match_info["meeting_id"], request.match_info["recording_id"],
            identity.user.id)
        name = f"{recorded.meeting_id}-{recorded.user_id}-{recorded.id}.mkv"
        return await stream_attachment(
            request, attachment_headers(name, CONTENT_TYPE, "private, max-age=3600"),
            recorded.size or 0, chunks)
