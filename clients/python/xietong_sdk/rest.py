"""REST over aiohttp (docs/protocol.md §0-§1, files, rooms, bookings, materials).

`Rest` keeps the user's token pair: `login` stores it, `refresh` renews it, and a request
refused `unauthorized` with a refresh token at hand is refreshed once and sent again. Errors
come as the exceptions of `xietong_sdk.errors`, from the `{"error": {...}}` body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp

from xietong_sdk.errors import NotConnected, Timeout, Unauthorized, error_from
from xietong_sdk.models import Session, StoredFile, User

DEFAULT_TIMEOUT = 30.0
Params = Mapping[str, str | int | float | bool | None]


class Rest:
    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None,
                 timeout: float = DEFAULT_TIMEOUT, token: str | None = None,
                 refresh_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token
        self.refresh_token = refresh_token
        self.expires_at: datetime | None = None
        self.user: User | None = None
        self.session: Session | None = None  # the last token pair answered
        self._session = session
        self._own_session = session is None
        self._refreshing = asyncio.Lock()

    async def __aenter__(self) -> Rest:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this object made it."""
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    # identity ----------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> Session:
        """`POST /api/v1/auth/login`; keeps the token pair for every later request."""
        return self._keep(await self.request("POST", "/api/v1/auth/login",
                                             {"username": username, "password": password},
                                             auth=False))

    async def refresh(self) -> Session:
        """A new token pair from the refresh token (`POST /api/v1/auth/refresh`)."""
        if not self.refresh_token:
            raise Unauthorized("no refresh token: log in first")
        token = self.token
        async with self._refreshing:
            if self.token != token and self.session is not None:
                return self.session  # refreshed by another task while this one waited
            return self._keep(await self.request(
                "POST", "/api/v1/auth/refresh", {"refresh_token": self.refresh_token},
                auth=False))

    async def me(self) -> User:
        return cast(User, (await self.request("GET", "/api/v1/auth/me"))["user"])

    async def change_password(self, old_password: str, new_password: str) -> Session:
        """Every older token of the user is revoked; this object keeps the new pair."""
        return self._keep(await self.request("POST", "/api/v1/auth/password", {
            "old_password": old_password, "new_password": new_password}, retry_auth=False))

    def expired(self, margin: float = 30.0, now: datetime | None = None) -> bool:
        """Whether the access token expires within `margin` seconds (by this machine's
        clock; unknown expiry counts as not expired)."""
        if self.expires_at is None:
            return False
        return (self.expires_at - (now or datetime.now(UTC))).total_seconds() <= margin

    def _keep(self, answer: Any) -> Session:
        session = cast(Session, answer)
        self.token = session["token"]
        self.refresh_token = session.get("refresh_token") or self.refresh_token
        self.user = session.get("user") or self.user
        self.expires_at = _parse_time(session.get("expires_at"))
        self.session = session
        return session

    # files -------------------------------------------------------------------------------

    async def upload_file(self, conv_id: str, name: str, data: bytes) -> StoredFile:
        """A chat file (`POST /api/v1/files?conv_id=..&name=..`, raw body); then
        `client.chat.send_file` posts it."""
        answer = await self.request("POST", "/api/v1/files", raw=data,
                                    params={"conv_id": conv_id, "name": name})
        return cast(StoredFile, answer["file"])

    async def upload_attachment(self, name: str, data: bytes) -> StoredFile:
        """A file for a form's `attachments` (`POST /api/v1/files?for=card`)."""
        answer = await self.request("POST", "/api/v1/files", raw=data,
                                    params={"for": "card", "name": name})
        return cast(StoredFile, answer["file"])

    async def download_file(self, file_id: str) -> bytes:
        return await self.download(f"/api/v1/files/{file_id}")

    # requests ----------------------------------------------------------------------------

    async def request(self, method: str, path: str, body: Any = None, *,
                      params: Params | None = None, raw: bytes | None = None,
                      content_type: str | None = None, auth: bool = True,
                      retry_auth: bool = True, seconds: float | None = None) -> Any:
        """One call answered with JSON (`None` for an empty body); any status >= 400 raises
        the body's error. `body` goes as JSON, `raw` as it is (with `content_type`)."""
        status, payload = await self._send(method, path, body, params, (raw, content_type),
                                           auth, retry_auth, seconds)
        answer = _decode(payload)
        if status >= 400:
            raise error_from(answer, status)
        return answer

    async def download(self, path: str, params: Params | None = None,
                       seconds: float | None = None) -> bytes:
        """The raw bytes of a GET (files, materials, recordings)."""
        status, payload = await self._send("GET", path, None, params, (None, None), True,
                                           True, seconds)
        if status >= 400:
            raise error_from(_decode(payload), status)
        return payload

    async def _send(self, method: str, path: str, body: Any, params: Params | None,
                    raw: tuple[bytes | None, str | None], auth: bool, retry_auth: bool,
                    seconds: float | None) -> tuple[int, bytes]:
        sent_with = self.token
        status, payload = await self._once(method, path, body, params, raw, auth, seconds)
        if status == 401 and auth and retry_auth and self.refresh_token:
            if self.token == sent_with:  # nobody refreshed meanwhile
                try:
                    await self.refresh()
                except Unauthorized:
                    return status, payload
            status, payload = await self._once(method, path, body, params, raw, auth, seconds)
        return status, payload

    async def _once(self, method: str, path: str, body: Any, params: Params | None,
                    raw: tuple[bytes | None, str | None], auth: bool,
                    seconds: float | None) -> tuple[int, bytes]:
        headers: dict[str, str] = {}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data, content_type = raw
        if content_type:
            headers["Content-Type"] = content_type
        if data is None and body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path
        try:
            async with self._http().request(
                    method, url, data=data, params=query, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=seconds or self.timeout)) as response:
                return response.status, await response.read()
        except TimeoutError:
            raise Timeout(f"{method} {path}: no answer in time") from None
        except aiohttp.ClientError as exc:
            raise NotConnected(f"{method} {url}: {exc}") from exc

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._own_session:
                raise NotConnected("the HTTP session given to Rest is closed")
            self._session = aiohttp.ClientSession()
        return self._session


def _decode(payload: bytes) -> Any:
    text = payload.decode("utf-8", errors="replace")
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text


def _query_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
