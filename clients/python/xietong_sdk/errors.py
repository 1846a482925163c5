"""Errors of the wire protocol (docs/protocol.md §0) as exceptions, one class per code.

Every refusal the server answers, over Socket.IO (`{"ok": false, "error": {...}}`) or REST
(`{"error": {...}}` with its HTTP status), becomes an instance of the class of its `code`,
carrying the server's `message` and `details`:

    try:
        await client.chat.send(conv_id, "hi")
    except RateLimited as exc:
        await asyncio.sleep(exc.retry_after_ms / 1000)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class XietongError(Exception):
    """A refusal by the server, or a failure to reach it (`Timeout`, `NotConnected`)."""

    code: str = "internal"
    status: int = 500

    def __init__(self, message: str = "", details: Any = None, *, code: str | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message
        self.details = details
        if code is not None and code != type(self).code:
            self.code = code  # a code this SDK does not know keeps its own name

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"

    @property
    def field(self) -> str | None:
        """The first field a `bad_request` names (`"user_ids.0"`), if the message names one."""
        fields = self.details.get("fields") if isinstance(self.details, Mapping) else None
        if isinstance(fields, list) and fields and isinstance(fields[0], Mapping):
            return str(fields[0].get("field"))
        head, sep, _ = self.message.partition(":")
        return head if sep and " " not in head else None


class BadRequest(XietongError):
    code = "bad_request"
    status = 400


class Unauthorized(XietongError):
    code = "unauthorized"
    status = 401


class Forbidden(XietongError):
    code = "forbidden"
    status = 403


class NotFound(XietongError):
    code = "not_found"
    status = 404


class Conflict(XietongError):
    code = "conflict"
    status = 409


class Gone(XietongError):
    code = "gone"
    status = 410


class TooLarge(XietongError):
    code = "too_large"
    status = 413


class RateLimited(XietongError):
    code = "rate_limited"
    status = 429

    @property
    def retry_after_ms(self) -> int:
        """How long the server asks to wait (0 when it did not say)."""
        value = self.details.get("retry_after_ms") if isinstance(self.details, Mapping) else None
        return int(value) if isinstance(value, int | float) else 0


class Internal(XietongError):
    code = "internal"
    status = 500


class Unavailable(XietongError):
    code = "unavailable"
    status = 503


class Timeout(XietongError):
    """No acknowledgement (or HTTP answer) within the call's timeout."""

    code = "timeout"
    status = 0


class NotConnected(XietongError):
    """The socket is not connected, could not connect, or dropped before the answer came."""

    code = "not_connected"
    status = 0


_BY_CODE: dict[str, type[XietongError]] = {
    cls.code: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Gone,
                              TooLarge, RateLimited, Internal, Unavailable)
}
_BY_STATUS: dict[int, type[XietongError]] = {cls.status: cls for cls in _BY_CODE.values()}


def error_from(payload: Any, status: int | None = None) -> XietongError:
    """The exception for an error body `{"code", "message", "details"?}`; `status` (HTTP)
    chooses the class when the body is not one."""
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        payload = payload["error"]
    if isinstance(payload, Mapping) and isinstance(payload.get("code"), str):
        code = str(payload["code"])
        cls = _BY_CODE.get(code, XietongError)
        return cls(str(payload.get("message") or ""), payload.get("details"), code=code)
    cls = _BY_STATUS.get(status or 0) or (
        Internal if (status or 0) >= 500 else BadRequest if status else Internal)
    text = payload if isinstance(payload, str) else repr(payload)
    return cls(f"HTTP {status}: {text[:500]}" if status else f"unexpected answer: {text[:500]}")
