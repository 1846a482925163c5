"""The deployment's signing secret: configured, or generated once and kept in the database so
every node of one deployment accepts the others' tokens."""

from __future__ import annotations

import secrets

from pymongo.errors import DuplicateKeyError

from core.mongo import Database


async def ensure_secret_key(db: Database, configured: str | None) -> str:
    if configured:
        return configured
    meta = db["meta"]
    candidate = secrets.token_urlsafe(48)
    try:
        # Two nodes booting at once both upsert; $setOnInsert makes the first one win.
        await meta.update_one({"_id": "secret_key"}, {"$setOnInsert": {"value": candidate}},
                              upsert=True)
    except DuplicateKeyError:
        pass
    doc = await meta.find_one({"_id": "secret_key"})
    if doc is None or not isinstance(doc.get("value"), str):
        raise RuntimeError("could not read the stored secret key")
    value: str = doc["value"]
    return value
