"""Encryption of sensitive values at rest (AES-256-GCM) under the deployment's FIELD_KEY.

The key never lives in the database it protects: it comes from the environment, or, for the
embedded default only, from a file under DATA_DIR created once with owner-only permissions
(a copy of the database alone then reveals nothing)."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12
_PREFIX = "v1:"
# Binds each ciphertext to its purpose: a value sealed here cannot pass for another's.
_ASSOCIATED = b"xietong:field:v1"
KEY_FILE = "field.key"


class CipherError(ValueError):
    """A sealed value is malformed or was sealed under another key."""


def parse_key(text: str) -> bytes:
    """A FIELD_KEY: 32 bytes in base64 (standard or URL-safe alphabet)."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        key = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"{len(key)} bytes, not {KEY_BYTES}")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def key_from_file(data_dir: Path) -> bytes:
    """The embedded default's key: created once under `data_dir`. It is written to a private
    temporary file and linked into place, so a second process starting at the same moment
    reads the first one's whole key rather than writing its own or reading half of one."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        temporary = data_dir / f".{KEY_FILE}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key_text())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return parse_key(path.read_text())


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, value: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), _ASSOCIATED)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str) -> str:
        if not token.startswith(_PREFIX):
            raise CipherError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX):])
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                      _ASSOCIATED).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise CipherError("cannot open a value sealed under another key") from exc


def cipher_for(field_key: str | None, external_database: bool, data_dir: Path) -> FieldCipher:
    """The deployment's cipher. Nodes sharing an external database must share the key, so
    there it has to come from the environment; only the embedded default may make its own."""
    if field_key:
        return FieldCipher(parse_key(field_key))
    if external_database:
        raise ValueError("FIELD_KEY is required with MONGO_URL: every node must encrypt "
                         "sensitive fields under the same key")
    return FieldCipher(key_from_file(data_dir))
