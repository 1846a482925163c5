"""scrypt password hashes, self-describing so the cost can rise without breaking old hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_R, _P = 8, 1


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _maxmem(n: int) -> int:
    return 128 * n * _R * 2 + 1024 * 1024


def hash_password(password: str, *, n: int = 2**14) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, maxmem=_maxmem(n))
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), maxmem=_maxmem(int(n)) * int(r) // _R,
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
