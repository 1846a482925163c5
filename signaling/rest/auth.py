"""Identity routes of PROTOCOL §1."""

from __future__ import annotations

from aiohttp import web

from core.auth.service import AuthService
from core.errors import NotFound
from signaling.errors import json_response
from signaling.rest.common import RequestContext, client_address, read_body
from signaling.schemas import LoginRequest, PasswordChange, PasswordReset, RefreshRequest


class AuthRoutes:
    def __init__(self, auth: AuthService, context: RequestContext) -> None:
        self._auth = auth
        self._context = context

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/auth/login", self.login)
        app.router.add_post("/api/v1/auth/refresh", self.refresh)
        app.router.add_post("/api/v1/auth/password", self.change_password)
        app.router.add_get("/api/v1/auth/me", self.me)
        app.router.add_post("/api/v1/admin/users/{user_id}/revoke", self.revoke)
        app.router.add_post("/api/v1/admin/users/{user_id}/password", self.reset_password)

    async def login(self, request: web.Request) -> web.Response:
        body = await read_body(request, LoginRequest)
        session = await self._auth.do_login(body.username, body.password, client_address(request))
        return json_response(session.to_wire())

    async def refresh(self, request: web.Request) -> web.Response:
        body = await read_body(request, RefreshRequest)
        return json_response((await self._auth.do_refresh(body.refresh_token)).to_wire())

    async def change_password(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        body = await read_body(request, PasswordChange)
        session = await self._auth.do_change_password(identity.user.id, body.old_password,
                                                      body.new_password)
        return json_response(session.to_wire())

    async def me(self, request: web.Request) -> web.Response:
        identity = await self._context.identity(request)
        return json_response({"user": identity.user.to_wire()})

    async def revoke(self, request: web.Request) -> web.Response:
        await self._context.admin(request)
        user = await self._auth.do_revoke(request.match_info["user_id"], "revoked_by_admin")
        if user is None:
            raise NotFound(f"no user {request.match_info['user_id']}")
        return json_response({"user": user.to_wire()})

    async def reset_password(self, request: web.Request) -> web.Response:
        await self._context.admin(request)
        body = await read_body(request, PasswordReset)
        user = await self._auth.do_set_password(request.match_info["user_id"], body.password)
        if user is None:
            raise NotFound(f"no user {request.match_info['user_id']}")
        return json_response({"user": user.to_wire()})
