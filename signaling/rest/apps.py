"""Registration of external applications (PROTOCOL §4, OA integration), for admins."""

from __future__ import annotations

from aiohttp import web

from cards.integration.apps import AppRegistry
from signaling.errors import json_response
from signaling.oa_schemas import AppRegistration
from signaling.rest.common import RequestContext, read_body


class AppRoutes:
    def __init__(self, apps: AppRegistry, context: RequestContext) -> None:
        self._apps = apps
        self._context = context

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/apps", self.register_app)
        app.router.add_get("/api/v1/apps", self.list_apps)
        app.router.add_post("/api/v1/apps/{app_id}/secret", self.rotate_secret)

    async def register_app(self, request: web.Request) -> web.Response:
        identity = await self._context.admin(request)
        body = await read_body(request, AppRegistration)
        registered = await self._apps.do_register(body.name, body.callback_url,
                                                  identity.user.id)
        return json_response(registered.to_wire(with_secret=True), status=201)

    async def list_apps(self, request: web.Request) -> web.Response:
        await self._context.admin(request)
        return json_response({"apps": [a.to_wire() for a in await self._apps.get_apps()]})

    async def rotate_secret(self, request: web.Request) -> web.Response:
        await self._context.admin(request)
        rotated = await self._apps.do_rotate_secret(request.match_info["app_id"])
        return json_response(rotated.to_wire(with_secret=True))
