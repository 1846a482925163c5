"""Signed, expiring tokens (HMAC-SHA256). Pure: the caller supplies `now`.

A token carries the user's token version; bumping the version in the directory revokes every
token issued before, on every node, with no list of revoked tokens to share.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum

_PREFIX = "xt1"


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class InvalidToken(Exception):
    """Forged, malformed, of the wrong kind or expired."""


@dataclass(frozen=True)
class Claims:
    user_id: str
    kind: TokenKind
    version: int
    issued_at: float
    expires_at: float
    token_id: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("xietong-token:" + secret).encode()).digest()

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def issue(self, user_id: str, kind: TokenKind, version: int, now: float, ttl: float) -> Claims:
        return Claims(user_id=user_id, kind=kind, version=version, issued_at=now,
                      expires_at=now + ttl, token_id=secrets.token_urlsafe(9))

    def encode(self, claims: Claims) -> str:
        payload = {"sub": claims.user_id, "typ": str(claims.kind), "ver": claims.version,
                   "iat": round(claims.issued_at, 3), "exp": round(claims.expires_at, 3),
                   "jti": claims.token_id}
        body = f"{_PREFIX}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
        return f"{body}.{self._sign(body)}"

    def decode(self, token: str, kind: TokenKind, now: float) -> Claims:
        try:
            prefix, payload, signature = token.split(".")
        except (ValueError, AttributeError) as exc:
            raise InvalidToken("malformed token") from exc
        if prefix != _PREFIX or not hmac.compare_digest(self._sign(f"{prefix}.{payload}"),
                                                        signature):
            raise InvalidToken("bad signature")
        try:
            data = json.loads(_unb64(payload))
            claims = Claims(user_id=str(data["sub"]), kind=TokenKind(data["typ"]),
                            version=int(data["ver"]), issued_at=float(data["iat"]),
                            expires_at=float(data["exp"]), token_id=str(data["jti"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidToken("malformed claims") from exc
        if claims.kind != kind:
            raise InvalidToken(f"not an {kind} token")
        if now >= claims.expires_at:
            raise InvalidToken("token expired")
        return claims
