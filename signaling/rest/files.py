"""File upload and download (PROTOCOL §3, file messages). Bodies stream into GridFS; the
size limit is checked as the bytes arrive, so an oversized upload is refused without
being held in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web

from chat.files import FileService
from core.errors import BadRequest
from signaling.errors import json_response
from signaling.rest.common import RequestContext

_CHUNK = 256 * 1024


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
        name = request.query.get("name")
        chunks: AsyncIterator[bytes]
        if request.content_type.startswith("multipart/"):
            part = await self._file_part(request)
            # aiohttp's client percent-encodes the filename; browsers send it raw.
            name = name or (unquote(part.filename) if part.filename else None)
            chunks = _part_chunks(part)
        else:
            chunks = request.content.iter_chunked(_CHUNK)
        for_cards = request.query.get("for") == "card"
        if not conv_id and not for_cards:
            raise BadRequest("conv_id: the conversation the file belongs to is required "
                             "(or for=card for a card's attachment)")
        attachment = await self._files.upload(identity.user.id,
                                              None if for_cards else conv_id, name, chunks)
        return json_response({"file": attachment.to_wire()}, status=201)

    @staticmethod
    async def _file_part(request: web.Request) -> BodyPartReader:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            if isinstance(part, BodyPartReader):
                await part.release()
        raise BadRequest("file: the multipart body has no part named file")

    async def download(self, request: web.Request) -> web.StreamResponse:
        identity = await self._context.identity(request)
        attachment, chunks = await self._files.open(identity.user.id,
                                                    request.match_info["file_id"])
        response = web.StreamResponse(headers={
            "Content-Type": attachment.content_type,
            "Content-Length": str(attachment.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.name)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        })
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while True:
        chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            return
        yield chunk
