"""The request-signing scheme shared by both directions (application -> server and server ->
application callbacks): HMAC-SHA256 with the application's secret over `"<timestamp>." + body`,
sent as `X-Xietong-Signature: sha256=<hex>` beside `X-Xietong-Timestamp` (unix seconds).
Signing the timestamp with the body lets a receiver refuse a replayed request by its age.

Pure functions: the caller passes `now`, so tests and the service's clock decide the time."""

from __future__ import annotations

import hashlib
import hmac

APP_HEADER = "X-Xietong-App"
TIMESTAMP_HEADER = "X-Xietong-Timestamp"
SIGNATURE_HEADER = "X-Xietong-Signature"
MAX_SKEW_SECONDS = 300
_PREFIX = "sha256="


class SignatureMismatch(ValueError):
    """The signature is missing, malformed or not made with the secret."""


class BadTimestamp(ValueError):
    """The timestamp header is missing or not unix seconds."""


class TimestampSkew(ValueError):
    """The timestamp is too far from the receiver's clock to be a fresh request."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Xietong-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _PREFIX + digest.hexdigest()


def parse_timestamp(raw: str | None) -> int:
    if raw is None or not raw.strip().isdigit():
        raise BadTimestamp(f"{TIMESTAMP_HEADER} must be unix seconds (an integer)")
    return int(raw.strip())


def check(secret: str, timestamp: int, signed: str | None, body: bytes, now: float,
          tolerance: float = MAX_SKEW_SECONDS) -> None:
    """Raise unless `signed` is the signature of `body` at `timestamp` and the timestamp lies
    within `tolerance` seconds of `now`. The signature is checked first, so that an unsigned
    caller learns nothing about the receiver's clock."""
    expected = signature(secret, timestamp, body)
    if not signed or not hmac.compare_digest(expected.encode(), signed.strip().encode()):
        raise SignatureMismatch(f"{SIGNATURE_HEADER} does not match the body and timestamp")
    skew = abs(now - timestamp)
    if skew > tolerance:
        raise TimestampSkew(f"{TIMESTAMP_HEADER} is {int(skew)} s away from the receiver's "
                            f"clock (at most {int(tolerance)} s allowed)")
