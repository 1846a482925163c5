"""MongoDB through PyMongo's async client, the same against nx-27017 and a real replica set."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Database = AsyncDatabase[Document]


def connect_mongo(url: str, *, timeout_ms: int = 5000) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                            tz_aware=True, uuidRepresentation="standard")


async def ping(db: Database) -> None:
    await db.command("ping")
