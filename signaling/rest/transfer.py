"""How files go over REST, whatever they belong to (chat files, meeting materials and
recordings): an upload as a multipart part or a raw body, streamed; a download as an
attachment the browser saves and never sniffs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web

from core.errors import BadRequest

_CHUNK = 256 * 1024


async def upload_body(request: web.Request) -> tuple[str | None, AsyncIterator[bytes]]:
    """The file's name (`?name=`, else the part's filename) and its bytes as they arrive:
    the multipart part named `file`, or the raw body."""
    name = request.query.get("name")
    if not request.content_type.startswith("multipart/"):
        return name, request.content.iter_chunked(_CHUNK)
    part = await _file_part(request)
    # aiohttp's client percent-encodes the filename; browsers send it raw.
    return name or (unquote(part.filename) if part.filename else None), _part_chunks(part)


def attachment_headers(name: str, content_type: str, cache: str) -> dict[str, str]:
    return {"Content-Type": content_type,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff", "Cache-Control": cache}


async def stream_attachment(request: web.Request, headers: dict[str, str], size: int,
                            chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(headers={**headers, "Content-Length": str(size)})
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def _file_part(request: web.Request) -> BodyPartReader:
    reader = await request.multipart()
    async for part in reader:
        if isinstance(part, BodyPartReader) and part.name == "file":
            return part
        if isinstance(part, BodyPartReader):
            await part.release()
    raise BadRequest("file: the multipart body has no part named file")


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while True:
        chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            return
        yield chunk
