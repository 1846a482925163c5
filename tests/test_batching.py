"""BulkWriter and BatchReader: what arrives together leaves together; each caller gets its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from pymongo import InsertOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from core.batching import BatchReader, BulkWriter
from core.mongo import Database, connect_mongo
from tests.conftest import Backends


@pytest.fixture
async def db(backends: Backends) -> AsyncIterator[Database]:
    client = connect_mongo(backends.mongo.url)
    name = f"batch_{uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)
    await client.close()


async def test_concurrent_writes_go_in_few_round_trips_and_all_land(db: Database) -> None:
    items = db.items
    batches: list[int] = []
    original = items.bulk_write

    async def counting(ops, **kwargs):  # type: ignore[no-untyped-def]
        batches.append(len(ops))  # the real call, counted
        return await original(ops, **kwargs)

    items.bulk_write = counting  # type: ignore[method-assign]
    writer = BulkWriter(items)
    await asyncio.gather(*[writer.write(InsertOne({"_id": n})) for n in range(200)])
    assert await db.items.count_documents({}) == 200
    assert sum(batches) == 200 and len(batches) <= 3


async def test_a_duplicate_fails_only_its_own_write(db: Database) -> None:
    await db.items.create_index("key", unique=True)
    writer = BulkWriter(db.items)
    results = await asyncio.gather(
        writer.write(InsertOne({"_id": 1, "key": "a"})),
        writer.write(InsertOne({"_id": 2, "key": "a"})),
        writer.write(UpdateOne({"_id": 1}, {"$set": {"seen": True}}, upsert=True)),
        return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], DuplicateKeyError)
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "key": "a", "seen": True}
    assert await db.items.count_documents({}) == 1


async def test_concurrent_reads_by_id_go_together_and_each_gets_its_own_document(
        db: Database) -> None:
    await db.items.insert_many([{"_id": n, "v": n * 10} for n in range(100)])
    finds: list[int] = []
    original = db.items.find

    def counting(query, *args, **kwargs):  # type: ignore[no-untyped-def]
        finds.append(len(query["_id"]["$in"]))  # the real call, counted
        return original(query, *args, **kwargs)

    items = db.items
    items.find = counting  # type: ignore[method-assign]
    reader = BatchReader(items)
    wanted = [*range(100), 7, 500]
    found = await asyncio.gather(*[reader.get(n) for n in wanted])
    assert [d["v"] if d else None for d in found] == [n * 10 for n in range(100)] + [70, None]
    assert len(finds) <= 3 and sum(finds) == 101


async def test_a_read_queued_after_a_write_sees_it(db: Database) -> None:
    reader = BatchReader(db.items)
    await db.items.insert_one({"_id": "k", "v": 1})
    assert (await reader.get("k") or {})["v"] == 1
    await db.items.update_one({"_id": "k"}, {"$set": {"v": 2}})
    assert (await reader.get("k") or {})["v"] == 2
