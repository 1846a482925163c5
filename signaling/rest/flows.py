"""Flow routes: the verified audit log of an instance."""

from __future__ import annotations

from aiohttp import web

from cards.flows.engine import FlowEngine
from signaling.errors import json_response
from signaling.rest.common import RequestContext


class FlowRoutes:
    def __init__(self, flows: FlowEngine, context: RequestContext) -> None:
        self._flows = flows
        self._context = context

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/flows/{instance_id}/audit", self.audit)

    async def audit(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        result = await self._flows.audit(identity.user.id, request.match_info["instance_id"])
        return json_response(result.to_wire())
