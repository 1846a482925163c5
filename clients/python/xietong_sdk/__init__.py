"""The Xietong SDK: a typed async client of the whole protocol (`XietongClient`, over
aiohttp and python-socketio), and helpers for applications integrating with Xietong
(`xietong_sdk.webhooks`, standard library only).

Names are imported on first use, so `import xietong_sdk.webhooks` stays free of aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xietong_sdk.backoff import Backoff
    from xietong_sdk.client import XietongClient
    from xietong_sdk.connection import Connection
    from xietong_sdk.errors import (
        BadRequest,
        Conflict,
        Forbidden,
        Gone,
        Internal,
        NotConnected,
        NotFound,
        RateLimited,
        Timeout,
        TooLarge,
        Unauthorized,
        Unavailable,
        XietongError,
        error_from,
    )
    from xietong_sdk.rest import Rest

_WHERE = {
    "Backoff": "xietong_sdk.backoff",
    "XietongClient": "xietong_sdk.client",
    "Connection": "xietong_sdk.connection",
    "Rest": "xietong_sdk.rest",
    **{name: "xietong_sdk.errors" for name in (
        "BadRequest", "Conflict", "Forbidden", "Gone", "Internal", "NotConnected", "NotFound",
        "RateLimited", "Timeout", "TooLarge", "Unauthorized", "Unavailable", "XietongError",
        "error_from")},
}

__all__ = [
    "Backoff",
    "BadRequest",
    "Conflict",
    "Connection",
    "Forbidden",
    "Gone",
    "Internal",
    "NotConnected",
    "NotFound",
    "RateLimited",
    "Rest",
    "Timeout",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "XietongClient",
    "XietongError",
    "error_from",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'xietong_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
