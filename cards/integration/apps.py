"""Registered external applications: their ids, secrets and callback URLs, and the check of
a request signed by one of them.

The secret cannot be hashed: the server must sign its callbacks with it, as Slack and DingTalk
do with an application's signing secret. It is stored sealed under FIELD_KEY (a copy of the
database alone does not let anyone forge a request) and leaves the server only in the answers
to registration and rotation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument

from cards.integration.signing import (
    APP_HEADER,
    MAX_SKEW_SECONDS,
    BadTimestamp,
    SignatureMismatch,
    TimestampSkew,
    check,
    parse_timestamp,
)
from core.clock import Clock, iso
from core.crypto import FieldCipher
from core.errors import NotFound, Unauthorized
from core.mongo import Database, Document


@dataclass(frozen=True)
class App:
    id: str
    name: str
    callback_url: str
    secret: str
    created_at: str
    created_by: str

    def to_wire(self, with_secret: bool = False) -> dict[str, Any]:
        wire: dict[str, Any] = {"app_id": self.id, "name": self.name,
                                "callback_url": self.callback_url,
                                "created_at": self.created_at, "created_by": self.created_by}
        if with_secret:
            wire["secret"] = self.secret
        return wire

    @classmethod
    def from_doc(cls, doc: Document, cipher: FieldCipher) -> App:
        return cls(id=doc["_id"], name=doc["name"], callback_url=doc["callback_url"],
                   secret=cipher.open(doc["secret"]), created_at=doc["created_at"],
                   created_by=doc["created_by"])


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class AppRegistry:
    def __init__(self, db: Database, clock: Clock, cipher: FieldCipher) -> None:
        self._apps = db["oa_apps"]
        self._clock = clock
        self._cipher = cipher

    async def do_register(self, name: str, callback_url: str, created_by: str) -> App:
        app = App(id=f"app_{secrets.token_hex(8)}", name=name, callback_url=callback_url,
                  secret=new_secret(), created_at=iso(self._clock.now()),
                  created_by=created_by)
        await self._apps.insert_one({"_id": app.id, "name": app.name,
                                     "callback_url": app.callback_url,
                                     "secret": self._cipher.seal(app.secret),
                                     "created_at": app.created_at,
                                     "created_by": app.created_by})
        return app

    async def get_apps(self) -> list[App]:
        return [App.from_doc(doc, self._cipher)
                async for doc in self._apps.find().sort("created_at", 1)]

    async def get(self, app_id: str) -> App | None:
        doc = await self._apps.find_one({"_id": app_id})
        return App.from_doc(doc, self._cipher) if doc else None

    async def do_rotate_secret(self, app_id: str) -> App:
        """A new secret, in force at once: requests signed with the old one are refused and
        callbacks from now on are signed with the new one."""
        doc = await self._apps.find_one_and_update(
            {"_id": app_id}, {"$set": {"secret": self._cipher.seal(new_secret())}},
            return_document=ReturnDocument.AFTER)
        if doc is None:
            raise NotFound(f"no application {app_id}")
        return App.from_doc(doc, self._cipher)

    async def authenticate(self, app_id: str | None, timestamp: str | None,
                           signed: str | None, body: bytes) -> App:
        """The application that signed this request; `unauthorized` otherwise. Unknown
        applications and bad signatures get the same answer, so ids cannot be probed."""
        if not app_id:
            raise Unauthorized(f"missing {APP_HEADER} header")
        app = await self.get(app_id)
        try:
            at = parse_timestamp(timestamp)
            if app is None:
                raise SignatureMismatch("unknown application or bad signature")
            check(app.secret, at, signed, body, self._clock.time())
        except SignatureMismatch as exc:
            raise Unauthorized("unknown application or bad signature") from exc
        except BadTimestamp as exc:
            raise Unauthorized(str(exc)) from exc
        except TimestampSkew as exc:
            raise Unauthorized(f"timestamp skew over {MAX_SKEW_SECONDS} s: {exc}") from exc
        return app
