"""What every REST route needs: the caller's identity and a parsed body."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from core.auth.service import AuthService, Identity
from core.directory.models import Role
from core.errors import BadRequest, Forbidden, Unauthorized
from signaling.errors import parse

M = TypeVar("M", bound=BaseModel)


class RequestContext:
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    async def identity(self, request: web.Request) -> Identity:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing bearer token")
        return await self._auth.authenticate(token.strip())

    async def admin(self, request: web.Request) -> Identity:
        identity = await self.identity(request)
        if not identity.user.has_role(Role.ADMIN):
            raise Forbidden("administrators only")
        return identity


async def read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


async def read_body(request: web.Request, model: type[M]) -> M:
    return parse(model, await read_json(request))


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"
