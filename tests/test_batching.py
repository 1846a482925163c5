"""core/batching.py: what arrives together leaves together; each caller gets its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from pymongo import InsertOne, UpdateOne
from pymongo.errors import DuplicateKeyError
from redis.asyncio import Redis

from core.batching import WRITERS, BatchReader, BulkWriter, ScriptBatch, VersionedWriter
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


async def test_of_compare_and_sets_racing_on_one_version_exactly_one_wins_per_document(
        db: Database) -> None:
    await db.items.insert_many([{"_id": n, "version": 1, "by": None} for n in range(20)])
    writer = VersionedWriter(db.items, projection={"by": 1})
    # Five writers per document, all at version 1, all in flight together.
    outcomes = await asyncio.gather(*[writer.replace_if_version(n, 1, {"by": w})
                                      for n in range(20) for w in range(5)])
    for n in range(20):
        mine = outcomes[n * 5:(n + 1) * 5]
        winners = [w for w, doc in enumerate(mine) if doc is not None]
        assert len(winners) == 1, f"document {n}: winners {winners}"
        stored = await db.items.find_one({"_id": n})
        assert stored is not None
        assert stored["version"] == 2 and stored["by"] == winners[0]
        assert mine[winners[0]] == {"_id": n, "by": winners[0], WRITERS: stored[WRITERS]}


async def test_a_compare_and_set_knows_it_won_even_after_a_later_writer_moved_on(
        db: Database) -> None:
    await db.items.insert_one({"_id": "d", "version": 1, "n": 0})
    writer = VersionedWriter(db.items)
    # In one batch: the write from 1 to 2, a loser at 1, and the next write from 2 to 3
    # (an unordered bulk write may apply them in any order; each learns its own fate).
    first, loser, second = await asyncio.gather(
        writer.replace_if_version("d", 1, {"n": 1}),
        writer.replace_if_version("d", 1, {"n": 99}),
        writer.replace_if_version("d", 2, {"n": 2}))
    assert (first is None) != (loser is None)
    stored = await db.items.find_one({"_id": "d"})
    assert stored is not None
    # The third applies only if the server ran it after the one that won; it says so.
    assert (second is not None) == (stored["version"] == 3)
    assert stored["n"] == (2 if second is not None else 1 if first is not None else 99)


async def test_a_compare_and_set_on_a_stale_or_missing_document_loses(db: Database) -> None:
    await db.items.insert_one({"_id": "d", "version": 5})
    writer = VersionedWriter(db.items)
    assert await writer.replace_if_version("d", 4, {"x": 1}) is None
    assert await writer.replace_if_version("nope", 1, {"x": 1}) is None
    assert await db.items.find_one({"_id": "d"}) == {"_id": "d", "version": 5}


async def test_script_calls_arriving_together_go_as_one_and_each_gets_its_own_answers(
        backends: Backends) -> None:
    redis = Redis.from_url(backends.redis.url)
    prefix = f"t:{uuid4().hex[:8]}:"
    script = redis.register_script(
        "local out = {} for i, key in ipairs(KEYS) do out[i] = redis.call('INCR', key) end "
        "return out")
    calls: list[int] = []

    async def counting(keys: list[str]) -> list[int]:
        calls.append(len(keys))  # the real call, counted
        return await script(keys=keys)  # type: ignore[no-any-return]

    batch = ScriptBatch(counting)  # type: ignore[arg-type]
    answers = await asyncio.gather(*[batch.call([f"{prefix}a", f"{prefix}{n}"])
                                     for n in range(50)])
    # Every caller's own keys, in its order; the shared key counted once per caller.
    assert sorted(a[0] for a in answers) == list(range(1, 51))
    assert all(a[1] == 1 for a in answers)
    assert len(calls) <= 3 and sum(calls) == 100
    await redis.aclose()
