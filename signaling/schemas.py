"""Wire payloads of the backbone (PROTOCOL §0-§2). Clients and the load generator import them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Strict = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class LoginRequest(BaseModel):
    model_config = Strict
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    model_config = Strict
    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(BaseModel):
    model_config = Strict
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class PasswordReset(BaseModel):
    model_config = Strict
    password: str = Field(min_length=1, max_length=256)


class SocketAuth(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    token: str = Field(min_length=1, max_length=4096)
    client: Literal["web", "desktop", "mobile", "sdk"] = "web"


class Empty(BaseModel):
    model_config = Strict


class RenewRequest(BaseModel):
    model_config = Strict
    token: str = Field(min_length=1, max_length=4096)


class PresenceSubscribe(BaseModel):
    model_config = Strict
    user_ids: list[str] = Field(max_length=1000)


class PresenceSet(BaseModel):
    model_config = Strict
    status: Literal["online", "away"]


class UserQuery(BaseModel):
    model_config = Strict
    dept_id: str | None = None
    q: str | None = Field(default=None, max_length=64)
    recursive: bool = False
    limit: int = Field(default=50, ge=1, le=200)
