"""Meeting materials over REST (PROTOCOL §6, materials): hosts upload per agenda item, members
list and download. Uploads stream into GridFS with the size checked as the bytes arrive; a
download is read whole before it is answered (meetings/materials.py says why)."""

from __future__ import annotations

from aiohttp import web

from core.errors import BadRequest
from meetings.materials import MaterialService
from signaling.errors import json_response
from signaling.rest.common import RequestContext
from signaling.rest.transfer import attachment_headers, upload_body

MATERIALS = "/api/v1/meetings/{meeting_id}/materials"
MATERIAL = MATERIALS + "/{material_id}"


class MaterialRoutes:
    def __init__(self, materials: MaterialService, context: RequestContext) -> None:
        self._materials = materials
        self._context = context

    def register(self, app: web.Application) -> None:
        app.router.add_post(MATERIALS, self.upload)
        app.router.add_get(MATERIALS, self.list)
        app.router.add_get(MATERIAL, self.download)
        app.router.add_delete(MATERIAL, self.delete)

    async def upload(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        item_id = request.query.get("item_id", "")
        if not item_id:
            raise BadRequest("item_id: the agenda item the material belongs to is required")
        name, chunks = await upload_body(request)
        meeting, material = await self._materials.upload(
            identity.user.id, request.match_info["meeting_id"], item_id, name, chunks)
        return json_response({"material": material.to_wire(meeting)}, status=201)

    async def list(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        listing = await self._materials.list(identity.user.id, request.match_info["meeting_id"])
        return json_response(listing.to_wire())

    async def download(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        material, data = await self._materials.download(
            identity.user.id, request.match_info["meeting_id"],
            request.match_info["material_id"])
        # Confidential documents must not outlive the meeting in a cache.
        return web.Response(body=data, headers=attachment_headers(
            material.name, material.content_type, "private, no-store"))

    async def delete(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        await self._materials.delete(identity.user.id, request.match_info["meeting_id"],
                                     request.match_info["material_id"])
        return json_response({})

