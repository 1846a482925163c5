"""Directory routes of PROTOCOL §1."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.directory.service import DirectoryService
from signaling.errors import json_response, parse
from signaling.rest.common import RequestContext, read_json
from signaling.schemas import UserQuery


class DirectoryRoutes:
    def __init__(self, directory: DirectoryService, context: RequestContext) -> None:
        self._directory = directory
        self._context = context

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/directory/departments", self.departments)
        app.router.add_get("/api/v1/directory/users", self.users)
        app.router.add_get("/api/v1/directory/users/{user_id}", self.user)
        app.router.add_get("/api/v1/directory/users/{user_id}/routing", self.routing)
        app.router.add_post("/api/v1/directory/import", self.import_file)

    async def departments(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        tree = await self._directory.get_tree()
        return json_response({"departments": tree.nested()})

    async def users(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        raw: dict[str, Any] = dict(request.query)
        if "recursive" in raw:
            raw["recursive"] = raw["recursive"].lower() in ("1", "true", "yes")
        query = parse(UserQuery, raw)
        users = await self._directory.search_users(dept_id=query.dept_id or None, query=query.q,
                                                   recursive=query.recursive, limit=query.limit)
        return json_response({"users": [u.to_wire() for u in users]})

    async def user(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        user = await self._directory.get_user(request.match_info["user_id"])
        return json_response({"user": user.to_wire()})

    async def routing(self, request: web.Request) -> web.Response:
        await self._context.identity(request)
        routing = await self._directory.get_routing(request.match_info["user_id"])
        return json_response({"routing": routing.to_wire()})

    async def import_file(self, request: web.Request) -> web.Response:
        await self._context.admin(request)
        result = await self._directory.do_import(await read_json(request))
        return json_response(result.to_wire())
