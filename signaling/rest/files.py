"""File upload and download (PROTOCOL §3, file messages). Bodies stream into GridFS; the
size limit is checked as the bytes arrive, so an oversized upload is refused without
being held in memory."""

from __future__ import annotations

from aiohttp import web

from chat.files import FileService
from core.errors import BadRequest
from signaling.errors import json_response
from signaling.rest.common import RequestContext
from signaling.rest.transfer import attachment_headers, stream_attachment, upload_body


class FileRoutes:
    def __init__(self, files: FileService, context: RequestContext) -> None:
        self._files = files
        self._context = context

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/files", self.upload)
        app.router.add_get("/api/v1/files/{file_id}", self.download)

    async def upload(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        conv_id = request.query.get("conv_id", "")
        name, chunks = await upload_body(request)
        for_cards = request.query.get("for") == "card"
        if not conv_id and not for_cards:
            raise BadRequest("conv_id: the conversation the file belongs to is required "
                             "(or for=card for a card's attachment)")
        attachment = await self._files.upload(identity.user.id,
                                              None if for_cards else conv_id, name, chunks)
        return json_response({"file": attachment.to_wire()}, status=201)

    async def download(self, request: web.Request) -> web.StreamResponse:
        identity = await self._context.identity(request)
        attachment, chunks = await self._files.open(identity.user.id,
                                                    request.match_info["file_id"])
        return await stream_attachment(
            request, attachment_headers(attachment.name, attachment.content_type,
                                        "private, max-age=3600"), attachment.size, chunks)

