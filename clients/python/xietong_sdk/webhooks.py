"""Signing and verifying Xietong's signed HTTP requests, for an external application.

Both directions use one scheme: `X-Xietong-Signature: sha256=<hex>` where the hex is
HMAC-SHA256 with the application's secret over `f"{timestamp}.".encode() + raw_body`, and
`X-Xietong-Timestamp` is unix seconds. A receiver must check the signature over the raw bytes
it received (before parsing JSON) and refuse a timestamp more than five minutes away from its
clock, which is what `verify` does.

    from xietong_sdk.webhooks import signed_headers, verify

    body = json.dumps(card).encode()
    requests.post(f"{base}/api/v1/cards", data=body,
                  headers=signed_headers(app_id, secret, body))

    # in the callback handler:
    verify(secret, request.headers, raw_body)   # raises WebhookError subclasses
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

APP_HEADER = "X-Xietong-App"
TIMESTAMP_HEADER = "X-Xietong-Timestamp"
SIGNATURE_HEADER = "X-Xietong-Signature"
DEFAULT_TOLERANCE = 300


class WebhookError(ValueError):
    """A request that must not be trusted."""


class BadSignature(WebhookError):
    """The signature is missing, malformed, or made with another secret or over other bytes."""


class StaleTimestamp(WebhookError):
    """The timestamp is missing, malformed, or too far from this receiver's clock."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Xietong-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{int(timestamp)}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(app_id: str, secret: str, body: bytes,
                   now: float | None = None) -> dict[str, str]:
    """Every header a signed request to Xietong needs."""
    timestamp = int(time.time() if now is None else now)
    return {APP_HEADER: app_id, TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "Content-Type": "application/json"}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: float = DEFAULT_TOLERANCE) -> int:
    """Check a signed request; return its timestamp. Raises `BadSignature` or
    `StaleTimestamp` (both `WebhookError`). `body` must be the raw bytes as received."""
    raw = _header(headers, TIMESTAMP_HEADER)
    if raw is None or not raw.strip().isdigit():
        raise StaleTimestamp(f"{TIMESTAMP_HEADER} is missing or not unix seconds")
    timestamp = int(raw.strip())
    given = _header(headers, SIGNATURE_HEADER) or ""
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), given.strip().encode()):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match the body and timestamp")
    skew = abs((time.time() if now is None else now) - timestamp)
    if skew > tolerance:
        raise StaleTimestamp(f"{TIMESTAMP_HEADER} is {int(skew)} s from this clock "
                             f"(at most {int(tolerance)} s allowed)")
    return timestamp
