"""Conformance of the embedded Mongo-wire server (nx-27017) with every MongoDB feature the code
relies on or will rely on: one small test per query or update shape, so that a gap in the
server is one named failure rather than a mysterious bug.

Shapes that nx-27017 0.8.1 gets wrong are strict xfails with the observed behaviour as reason:
the day the server is fixed they fail (XPASS) and tell us. See shared/research/nx-27017.md."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from core.mongo import Database, Document, connect_mongo
from tests.conftest import Backends

Client = AsyncMongoClient[Document]
Coll = AsyncCollection[Document]
KNOWN = "known nx-27017 0.8.1 bug (shared/research/nx-27017.md)"
FOUND = "nx-27017 0.8.1 gap found by this module"


@pytest.fixture(scope="module")
async def client(backends: Backends) -> AsyncIterator[Client]:
    mongo = connect_mongo(backends.mongo.url)
    yield mongo
    await mongo.close()


@pytest.fixture
async def db(client: Client) -> AsyncIterator[Database]:
    name = f"conf_{uuid4().hex[:8]}"
    yield client[name]
    await client.drop_database(name)


@pytest.fixture
async def people(db: Database) -> Coll:
    rows = [("u1", "Alice", 30, "office", None), ("u2", "bob", 25, "it", True),
            ("u3", "张协同", 41, "office", False), ("u4", "alfred", 35, "hr", None),
            ("u5", "李协作", 19, "it", None)]
    await db.people.insert_many([
        {"_id": i, "name": n, "age": a, "dept": d, "password_hash": "h"}
        | ({} if disabled is None else {"disabled": disabled}) for i, n, a, d, disabled in rows])
    return db.people


async def ids(cursor: Any) -> list[Any]:
    """The _ids in the order the cursor returns them."""
    return [doc["_id"] async for doc in cursor]


async def matching(coll: Coll, query: Document) -> list[Any]:
    """The sorted _ids of the documents that match."""
    return sorted(await ids(coll.find(query)))


async def get(coll: Coll, _id: Any) -> Document:
    doc = await coll.find_one({"_id": _id})
    assert doc is not None, _id
    return doc


# --- insert, find, filters -------------------------------------------------------------------

async def test_insert_one_and_insert_many_store_documents_that_read_back(db: Database) -> None:
    one = await db.things.insert_one({"_id": "a", "n": 1, "tags": ["x"], "sub": {"k": "v"}})
    many = await db.things.insert_many([{"n": 2}, {"n": 3}])
    assert one.inserted_id == "a" and len(set(many.inserted_ids)) == 2
    assert await get(db.things, "a") == {"_id": "a", "n": 1, "tags": ["x"], "sub": {"k": "v"}}
    assert (await get(db.things, many.inserted_ids[1]))["n"] == 3


async def test_aware_datetimes_round_trip_and_compare_in_range_queries(db: Database) -> None:
    t0 = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    await db.bookings.insert_many([{"_id": i, "start": t0 + timedelta(hours=i)} for i in range(4)])
    assert (await get(db.bookings, 1))["start"] == t0 + timedelta(hours=1)
    window = {"$gte": t0 + timedelta(hours=1), "$lt": t0 + timedelta(hours=3)}
    assert await matching(db.bookings, {"start": window}) == [1, 2]


async def test_find_sorts_skips_and_limits(people: Coll) -> None:
    assert await ids(people.find().sort("age", DESCENDING).skip(1).limit(2)) == ["u4", "u1"]
    assert await ids(people.find().sort([("dept", ASCENDING), ("age", DESCENDING)])) == [
        "u4", "u2", "u5", "u3", "u1"]


async def test_find_projection_by_inclusion_returns_only_named_fields(people: Coll) -> None:
    assert await people.find_one({"_id": "u1"}, {"name": 1}) == {"_id": "u1", "name": "Alice"}
    assert await people.find_one({"_id": "u1"}, {"name": 1, "_id": 0}) == {"name": "Alice"}


async def test_find_projection_excluding_password_hash_keeps_other_fields(people: Coll) -> None:
    assert await people.find_one({"_id": "u1"}, {"password_hash": 0}) == {
        "_id": "u1", "name": "Alice", "age": 30, "dept": "office"}


async def test_count_documents_counts_only_matching_documents(people: Coll) -> None:
    assert await people.count_documents({}) == 5
    assert await people.count_documents({"dept": "office"}) == 2


async def test_in_matches_any_of_the_listed_values(people: Coll) -> None:
    assert await matching(people, {"dept": {"$in": ["hr", "it"]}}) == ["u2", "u4", "u5"]


async def test_gt_and_lt_select_an_open_range(people: Coll) -> None:
    assert await matching(people, {"age": {"$gt": 25, "$lt": 41}}) == ["u1", "u4"]


async def test_and_and_or_combine_conditions(people: Coll) -> None:
    query = {"$and": [{"$or": [{"dept": "it"}, {"age": {"$gte": 40}}]}, {"age": {"$gt": 20}}]}
    assert await matching(people, query) == ["u2", "u3"]


async def test_ne_true_also_matches_documents_without_the_field(people: Coll) -> None:
    assert await matching(people, {"disabled": {"$ne": True}}) == ["u1", "u3", "u4", "u5"]


async def test_regex_with_a_caret_matches_by_prefix(people: Coll) -> None:
    assert await matching(people, {"name": {"$regex": "^al"}}) == ["u4"]


async def test_regex_finds_a_chinese_substring(people: Coll) -> None:
    assert await matching(people, {"name": {"$regex": "协"}}) == ["u3", "u5"]
    assert await matching(people, {"name": {"$regex": "协同"}}) == ["u3"]


async def test_regex_with_option_i_ignores_case(people: Coll) -> None:
    assert await matching(people, {"name": {"$regex": "^AL", "$options": "i"}}) == ["u1", "u4"]


# --- unique indexes --------------------------------------------------------------------------

async def test_a_unique_index_makes_a_second_insert_a_duplicate_key_error(db: Database) -> None:
    await db.users.create_index("username", unique=True)
    await db.users.insert_one({"username": "staff01"})
    with pytest.raises(DuplicateKeyError):
        await db.users.insert_one({"username": "staff01"})
    assert await db.users.count_documents({"username": "staff01"}) == 1


async def test_a_unique_index_on_conv_id_and_seq_rejects_only_the_same_pair(db: Database) -> None:
    await db.messages.create_index([("conv_id", ASCENDING), ("seq", ASCENDING)], unique=True)
    await db.messages.insert_many([{"conv_id": "c1", "seq": 1}, {"conv_id": "c1", "seq": 2},
                                   {"conv_id": "c2", "seq": 1}])
    with pytest.raises(DuplicateKeyError):
        await db.messages.insert_one({"conv_id": "c1", "seq": 2})
    assert await db.messages.count_documents({}) == 3


async def test_a_unique_index_on_sender_and_client_msg_id_rejects_a_resend(db: Database) -> None:
    await db.messages.create_index([("sender_id", ASCENDING), ("client_msg_id", ASCENDING)],
                                   unique=True)
    await db.messages.insert_one({"sender_id": "u1", "client_msg_id": "m1", "text": "hi"})
    await db.messages.insert_one({"sender_id": "u2", "client_msg_id": "m1", "text": "hi"})
    with pytest.raises(DuplicateKeyError):
        await db.messages.insert_one({"sender_id": "u1", "client_msg_id": "m1", "text": "again"})
    assert [m["text"] for m in await db.messages.find({"sender_id": "u1"}).to_list()] == ["hi"]


# --- atomic single-document updates ----------------------------------------------------------

async def test_compare_and_set_applies_on_the_expected_version_only(db: Database) -> None:
    await db.cards.insert_one({"_id": "k", "version": 1, "state": "draft"})
    after = await db.cards.find_one_and_update(
        {"_id": "k", "version": 1}, {"$inc": {"version": 1}, "$set": {"state": "sent"}},
        return_document=ReturnDocument.AFTER)
    assert after == {"_id": "k", "version": 2, "state": "sent"}
    stale = await db.cards.find_one_and_update(
        {"_id": "k", "version": 1}, {"$inc": {"version": 1}, "$set": {"state": "lost"}})
    assert stale is None
    assert await get(db.cards, "k") == after


async def test_compare_and_set_lets_exactly_one_of_twenty_racers_win(db: Database) -> None:
    await db.cards.insert_one({"_id": "k", "version": 7, "winner": None})
    results = await asyncio.gather(*(db.cards.find_one_and_update(
        {"_id": "k", "version": 7}, {"$inc": {"version": 1}, "$set": {"winner": i}},
        return_document=ReturnDocument.AFTER) for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and results.count(None) == 19
    assert await get(db.cards, "k") == {"_id": "k", "version": 8, "winner": winners[0]["winner"]}


async def test_fifty_concurrent_inc_upserts_allocate_fifty_distinct_seqs(db: Database) -> None:
    results = await asyncio.gather(*(db.counters.find_one_and_update(
        {"_id": "conv-1"}, {"$inc": {"seq": 1}}, upsert=True,
        return_document=ReturnDocument.AFTER) for _ in range(50)))
    assert sorted(r["seq"] for r in results if r) == list(range(1, 51))
    assert await get(db.counters, "conv-1") == {"_id": "conv-1", "seq": 50}


async def test_upsert_with_set_on_insert_writes_once_and_never_overwrites(db: Database) -> None:
    once = {"$setOnInsert": {"value": "a"}}
    first = await db.meta.update_one({"_id": "secret"}, once, upsert=True)
    second = await db.meta.update_one({"_id": "secret"}, {"$setOnInsert": {"value": "b"}},
                                      upsert=True)
    assert first.upserted_id == "secret" and second.upserted_id is None
    assert await get(db.meta, "secret") == {"_id": "secret", "value": "a"}


async def test_replace_one_with_upsert_inserts_then_replaces_the_document(db: Database) -> None:
    # The replacement carries its _id: the shape that works on nx-27017 (see the next test).
    first = await db.rooms.replace_one({"_id": "r1"}, {"_id": "r1", "name": "A", "seats": 8},
                                       upsert=True)
    assert first.upserted_id == "r1"
    assert await get(db.rooms, "r1") == {"_id": "r1", "name": "A", "seats": 8}
    second = await db.rooms.replace_one({"_id": "r1"}, {"name": "B"}, upsert=True)
    assert second.upserted_id is None and second.matched_count == 1
    assert await db.rooms.find().to_list() == [{"_id": "r1", "name": "B"}]


@pytest.mark.xfail(strict=True, reason="replace_one(upsert=True) inserts under a new ObjectId, "
                   f"ignoring the _id of the filter; {FOUND}")
async def test_replace_one_upsert_takes_the_id_from_the_filter(db: Database) -> None:
    result = await db.rooms.replace_one({"_id": "r1"}, {"name": "A"}, upsert=True)
    assert result.upserted_id == "r1"
    assert await db.rooms.find().to_list() == [{"_id": "r1", "name": "A"}]


@pytest.mark.xfail(strict=True, reason="a datetime written by $set reads back as a naive "
                   f"ISO string (update_one and find_one_and_update alike); {FOUND}")
async def test_a_datetime_set_by_an_update_reads_back_as_a_datetime(db: Database) -> None:
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    await db.cards.insert_one({"_id": "d"})
    await db.cards.update_one({"_id": "d"}, {"$set": {"at": at}})
    assert (await get(db.cards, "d"))["at"] == at


async def test_set_of_a_nested_field_keeps_its_siblings(db: Database) -> None:
    await db.users.insert_one({"_id": "u", "prefs": {"lang": "zh", "theme": "light"}})
    await db.users.update_one({"_id": "u"}, {"$set": {"prefs.theme": "dark", "prefs.new.x": 1}})
    assert await get(db.users, "u") == {
        "_id": "u", "prefs": {"lang": "zh", "theme": "dark", "new": {"x": 1}}}


async def test_unset_removes_a_field(db: Database) -> None:
    await db.users.insert_one({"_id": "u", "a": 1, "b": 2})
    await db.users.update_one({"_id": "u"}, {"$unset": {"a": ""}})
    assert await get(db.users, "u") == {"_id": "u", "b": 2}


async def test_add_to_set_adds_a_scalar_only_once(db: Database) -> None:
    await db.convs.insert_one({"_id": "c", "members": ["u1"]})
    for user in ("u2", "u1", "u2"):
        await db.convs.update_one({"_id": "c"}, {"$addToSet": {"members": user}})
    assert (await get(db.convs, "c"))["members"] == ["u1", "u2"]


async def test_pull_removes_every_occurrence_of_a_value(db: Database) -> None:
    await db.convs.insert_one({"_id": "c", "members": ["u1", "u2", "u3", "u2"]})
    await db.convs.update_one({"_id": "c"}, {"$pull": {"members": "u2"}})
    assert (await get(db.convs, "c"))["members"] == ["u1", "u3"]


async def test_pull_removes_elements_matching_a_condition(db: Database) -> None:
    await db.meets.insert_one({"_id": "m", "scores": [1, 5, 9],
                               "votes": [{"u": "a", "v": 1}, {"u": "b", "v": 2}]})
    await db.meets.update_one({"_id": "m"}, {"$pull": {"scores": {"$gte": 5}, "votes": {"u": "a"}}})
    assert await get(db.meets, "m") == {"_id": "m", "scores": [1], "votes": [{"u": "b", "v": 2}]}


async def test_push_appends_scalars(db: Database) -> None:
    await db.convs.insert_one({"_id": "c", "log": [1]})
    await db.convs.update_one({"_id": "c"}, {"$push": {"log": 2}})
    await db.convs.update_one({"_id": "c"}, {"$push": {"log": {"$each": [3, 4]}}})
    assert (await get(db.convs, "c"))["log"] == [1, 2, 3, 4]


async def test_set_of_a_whole_array_of_documents_is_found_by_elem_match(db: Database) -> None:
    steps = [{"s": 1, "e": 5, "who": "u1"}, {"s": 6, "e": 9, "who": "u2"}]
    await db.cards.insert_one({"_id": "k", "steps": []})
    await db.cards.update_one({"_id": "k"}, {"$set": {"steps": steps}})
    assert (await get(db.cards, "k"))["steps"] == steps
    assert await matching(db.cards, {"steps": {"$elemMatch": {"s": {"$lte": 7},
                                                              "e": {"$gte": 7}}}}) == ["k"]
    assert await matching(db.cards, {"steps": {"$elemMatch": {"s": {"$lte": 5},
                                                              "who": "u2"}}}) == []


@pytest.mark.xfail(strict=True, reason="each pushed document is stored as a JSON string, "
                   f"['{{\"s\":1,\"e\":5}}']; {KNOWN}")
@pytest.mark.parametrize("push", [{"s": 1, "e": 5}, {"$each": [{"s": 1, "e": 5}]}],
                         ids=["one", "each"])
async def test_push_of_a_document_stores_the_document(db: Database, push: Document) -> None:
    await db.cards.insert_one({"_id": "k", "iv": []})
    await db.cards.update_one({"_id": "k"}, {"$push": {"iv": push}})
    assert (await get(db.cards, "k"))["iv"] == [{"s": 1, "e": 5}]


@pytest.mark.xfail(strict=True, reason=f"$set of arr.0.a leaves the array unchanged; {KNOWN}")
async def test_set_through_an_array_index_path_changes_that_element(db: Database) -> None:
    await db.cards.insert_one({"_id": "k", "arr": [{"a": 1}, {"a": 2}]})
    await db.cards.update_one({"_id": "k"}, {"$set": {"arr.0.a": 9}})
    assert (await get(db.cards, "k"))["arr"] == [{"a": 9}, {"a": 2}]


@pytest.mark.xfail(strict=True, reason=f"{{'iv.s': {{'$lt': 4}}}} matches nothing; {KNOWN}")
async def test_a_dotted_query_matches_inside_an_array_of_documents(db: Database) -> None:
    await db.cards.insert_one({"_id": "k", "iv": [{"s": 1, "e": 5}, {"s": 6, "e": 9}]})
    assert await matching(db.cards, {"iv.s": {"$lt": 4}}) == ["k"]


# --- aggregation -----------------------------------------------------------------------------

async def aggregate(coll: Coll, *stages: Document) -> list[Document]:
    return await (await coll.aggregate(list(stages))).to_list()


async def test_aggregate_match_filters_documents(people: Coll) -> None:
    assert sorted(r["_id"] for r in await aggregate(people, {"$match": {"dept": "it"}})) == [
        "u2", "u5"]


async def test_aggregate_group_sums_a_count_and_a_field_per_key(people: Coll) -> None:
    rows = await aggregate(people, {"$group": {"_id": "$dept", "n": {"$sum": 1},
                                               "ages": {"$sum": "$age"}}})
    assert sorted((r["_id"], r["n"], r["ages"]) for r in rows) == [
        ("hr", 1, 35), ("it", 2, 44), ("office", 2, 71)]


async def test_aggregate_sort_and_limit_keep_the_top_rows(people: Coll) -> None:
    rows = await aggregate(people, {"$sort": {"age": -1}}, {"$limit": 2})
    assert [r["_id"] for r in rows] == ["u3", "u4"]


async def test_aggregate_project_keeps_only_named_fields(people: Coll) -> None:
    rows = await aggregate(people, {"$match": {"_id": "u1"}}, {"$project": {"name": 1, "_id": 0}})
    assert rows == [{"name": "Alice"}]


# --- GridFS ----------------------------------------------------------------------------------

async def test_gridfs_round_trips_300_kb_of_random_bytes_with_metadata(db: Database) -> None:
    bucket = AsyncGridFSBucket(db)
    data = os.urandom(300 * 1024)
    file_id = await bucket.upload_from_stream("minutes.bin", data,
                                              metadata={"meeting_id": "m1", "mime": "x/bin"})
    stream = await bucket.open_download_stream(file_id)
    assert await stream.read() == data
    assert (stream.length, stream.filename) == (len(data), "minutes.bin")
    assert stream.metadata == {"meeting_id": "m1", "mime": "x/bin"}
    assert [f._id for f in await bucket.find({"metadata.meeting_id": "m1"}).to_list()] == [file_id]


async def test_gridfs_delete_removes_the_file(db: Database) -> None:
    bucket = AsyncGridFSBucket(db)
    file_id = await bucket.upload_from_stream("a.txt", b"hello " * 1000)
    assert await (await bucket.open_download_stream(file_id)).read() == b"hello " * 1000
    await bucket.delete(file_id)
    with pytest.raises(NoFile):
        await bucket.open_download_stream(file_id)
    assert await bucket.find({"_id": file_id}).to_list() == []


@pytest.mark.xfail(strict=True, reason=f"upload_date is an ISO string, not a datetime; {FOUND}")
async def test_gridfs_records_the_upload_date_as_a_datetime(db: Database) -> None:
    bucket = AsyncGridFSBucket(db)
    stream = await bucket.open_download_stream(await bucket.upload_from_stream("a", b"x"))
    assert isinstance(stream.upload_date, datetime)


@pytest.mark.xfail(strict=True, reason=f"raises OperationFailure 'File ... not found'; {FOUND}")
async def test_gridfs_delete_of_a_missing_file_raises_no_file(db: Database) -> None:
    bucket = AsyncGridFSBucket(db)
    file_id = await bucket.upload_from_stream("a", b"x")
    await bucket.delete(file_id)
    with pytest.raises(NoFile):
        await bucket.delete(file_id)


# --- TTL indexes -----------------------------------------------------------------------------

async def test_a_ttl_index_is_created_and_listed(db: Database) -> None:
    await db.idempotency.create_index("expires_at", expireAfterSeconds=30)
    listed = [(dict(ix["key"]), ix.get("expireAfterSeconds"))
              async for ix in await db.idempotency.list_indexes()]
    assert sorted(listed, key=str) == [({"_id": 1}, None), ({"expires_at": 1}, 30)]


@pytest.mark.timeout(80)
async def test_a_ttl_index_expires_a_past_document_and_keeps_a_future_one(db: Database) -> None:
    # A real MongoDB sweeps every 60 s; nx-27017 purges on each read, so this is instant there.
    await db.idempotency.create_index("expires_at", expireAfterSeconds=0)
    now = datetime.now(UTC)
    await db.idempotency.insert_many([{"_id": "old", "expires_at": now - timedelta(hours=1)},
                                      {"_id": "new", "expires_at": now + timedelta(hours=1)}])
    async with asyncio.timeout(70):
        while await db.idempotency.find_one({"_id": "old"}) is not None:
            await asyncio.sleep(0.2)
    assert await ids(db.idempotency.find()) == ["new"]


# --- transactions ----------------------------------------------------------------------------

async def test_a_committed_transaction_writes_to_both_collections(client: Client,
                                                                  db: Database) -> None:
    async with client.start_session() as session, await session.start_transaction():
        await db.a.insert_one({"_id": 1}, session=session)
        await db.b.update_one({"_id": 1}, {"$set": {"x": 1}}, upsert=True, session=session)
    assert (await db.a.find().to_list(), await db.b.find().to_list()) == (
        [{"_id": 1}], [{"_id": 1, "x": 1}])


async def test_an_aborted_transaction_leaves_no_trace(client: Client, db: Database) -> None:
    await db.a.insert_one({"_id": 0, "n": 0})
    async with client.start_session() as session:
        with pytest.raises(RuntimeError):
            async with await session.start_transaction():
                await db.a.insert_one({"_id": 1}, session=session)
                await db.a.update_one({"_id": 0}, {"$inc": {"n": 1}}, session=session)
                raise RuntimeError("roll back")
        await session.start_transaction()
        await db.a.insert_one({"_id": 2}, session=session)
        await session.abort_transaction()
    assert await db.a.find().to_list() == [{"_id": 0, "n": 0}]


# --- indexes, collections, databases ---------------------------------------------------------

async def test_create_index_twice_is_idempotent(db: Database) -> None:
    first = await db.messages.create_index([("conv_id", 1), ("seq", 1)], unique=True)
    assert await db.messages.create_index([("conv_id", 1), ("seq", 1)], unique=True) == first
    keys = [dict(ix["key"]) async for ix in await db.messages.list_indexes()]
    assert sorted(keys, key=len) == [{"_id": 1}, {"conv_id": 1, "seq": 1}]


@pytest.mark.xfail(strict=True, reason="indexes are listed as idx_<coll>_<fields> whatever their "
                   f"name; drop_index of a custom name silently does nothing; {FOUND}")
async def test_an_index_is_listed_and_dropped_by_its_given_name(db: Database) -> None:
    name = await db.users.create_index("username", unique=True, name="by_username")
    assert name in [ix["name"] async for ix in await db.users.list_indexes()]
    await db.users.drop_index(name)
    assert [ix["name"] async for ix in await db.users.list_indexes()] == ["_id_"]


async def test_list_collection_names_lists_created_collections(db: Database) -> None:
    await db.users.insert_one({"_id": 1})
    await db.create_collection("rooms")
    assert sorted(await db.list_collection_names()) == ["rooms", "users"]


async def test_every_collection_named_in_the_design_works(db: Database) -> None:
    names = ("users departments conversations messages receipts cards flow_instances "
             "idempotency rooms bookings meetings meta memberships changes attachments "
             "urgent_notices").split()
    for name in names:
        await db[name].insert_one({"_id": name})
    assert [await db[name].find_one({}) for name in names] == [{"_id": n} for n in names]


@pytest.mark.xfail(strict=True, reason="an SQL keyword (order, group, index, values, nothing) "
                   f"as collection name: OperationFailure 'near \"order\": syntax error'; {FOUND}")
async def test_a_collection_may_be_named_like_an_sql_keyword(db: Database) -> None:
    await db.order.insert_one({"_id": 1})
    assert await db.order.find().to_list() == [{"_id": 1}]


async def test_drop_database_removes_it_with_its_collections(client: Client) -> None:
    name = f"conf_{uuid4().hex[:8]}"
    await client[name].users.insert_one({"_id": 1})
    assert name in await client.list_database_names()
    await client.drop_database(name)
    assert name not in await client.list_database_names()
    assert await client[name].list_collection_names() == []
    assert await client[name].users.find_one({}) is None


# --- bulk writes -----------------------------------------------------------------------------

async def test_bulk_write_of_update_one_upserts_inserts_and_updates(db: Database) -> None:
    await db.receipts.insert_one({"_id": "c1:u1", "read_seq": 1})
    result = await db.receipts.bulk_write([
        UpdateOne({"_id": "c1:u1"}, {"$max": {"read_seq": 5}}, upsert=True),
        UpdateOne({"_id": "c1:u2"}, {"$set": {"read_seq": 3}}, upsert=True),
        UpdateOne({"_id": "c1:u3"}, {"$max": {"read_seq": 4}}, upsert=True)])
    assert (result.matched_count, result.upserted_count) == (1, 2)
    assert sorted((result.upserted_ids or {}).values()) == ["c1:u2", "c1:u3"]
    assert await db.receipts.find().sort("_id").to_list() == [
        {"_id": "c1:u1", "read_seq": 5}, {"_id": "c1:u2", "read_seq": 3},
        {"_id": "c1:u3", "read_seq": 4}]


async def test_unordered_insert_many_reports_a_duplicate_and_inserts_the_rest(
        db: Database) -> None:
    await db.users.create_index("username", unique=True)
    with pytest.raises(BulkWriteError) as caught:
        await db.users.insert_many([{"_id": i, "username": name} for i, name in enumerate("abcbd")],
                                   ordered=False)
    details = caught.value.details
    assert details["nInserted"] == 4
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(3, 11000)]
    assert await ids(db.users.find().sort("_id")) == [0, 1, 2, 4]


# --- shapes chat relies on ----------------------------------------------------------------

async def test_all_of_several_terms_within_an_or_of_seq_ranges(db: Database) -> None:
    await db.messages.create_index("terms")
    await db.messages.insert_many([
        {"_id": "a", "conv_id": "c1", "seq": 1, "terms": ["会议", "通知", "议通"]},
        {"_id": "b", "conv_id": "c1", "seq": 2, "terms": ["会议"]},
        {"_id": "c", "conv_id": "c2", "seq": 1, "terms": ["会议", "通知"]},
        {"_id": "d", "conv_id": "c3", "seq": 9, "terms": ["会议", "通知"]}])
    query = {"$and": [{"$or": [{"conv_id": "c1", "seq": {"$gt": 0}},
                               {"conv_id": "c2", "seq": {"$gt": 0}}]},
                      {"terms": {"$all": ["会议", "通知"]}}]}
    assert sorted(await ids(db.messages.find(query))) == ["a", "c"]


async def test_count_with_a_range_a_not_equal_and_a_boolean(db: Database) -> None:
    await db.messages.insert_many([
        {"_id": i, "conv_id": "c", "seq": i, "sender_id": "me" if i % 3 == 0 else "you",
         "recalled": i == 5} for i in range(1, 10)])
    query = {"conv_id": "c", "seq": {"$gt": 2}, "sender_id": {"$ne": "me"}, "recalled": False}
    assert await db.messages.count_documents(query) == 3  # 4, 7, 8: not mine, not recalled


@pytest.mark.xfail(strict=True, reason=f"count_documents with {{'f': None}} counts 0; {FOUND}")
async def test_count_matches_a_field_equal_to_null(db: Database) -> None:
    await db.messages.insert_many([{"_id": 1, "recalled_at": None}, {"_id": 2}])
    assert await db.messages.count_documents({"recalled_at": None}) == 2


@pytest.mark.xfail(strict=True, reason=f"upserted document lacks the $setOnInsert fields; {FOUND}")
async def test_find_one_and_update_upsert_with_only_set_on_insert(db: Database) -> None:
    found = await db.flags.find_one_and_update({"_id": "x"}, {"$setOnInsert": {"a": 1}},
                                               upsert=True, return_document=ReturnDocument.AFTER)
    assert found == {"_id": "x", "a": 1}


async def test_bulk_upsert_with_set_and_set_on_insert_keeps_existing_fields(
        db: Database) -> None:
    await db.memberships.insert_one({"_id": "c|u1", "read_seq": 7, "active": False})
    ops = [UpdateOne({"_id": f"c|{u}"}, {"$set": {"active": True},
                                         "$setOnInsert": {"read_seq": 0}}, upsert=True)
           for u in ("u1", "u2")]
    await db.memberships.bulk_write(ops, ordered=False)
    assert await db.memberships.find_one({"_id": "c|u1"}) == {"_id": "c|u1", "read_seq": 7,
                                                              "active": True}
    assert await db.memberships.find_one({"_id": "c|u2"}) == {"_id": "c|u2", "active": True,
                                                              "read_seq": 0}


async def test_compare_and_set_on_a_float_field(db: Database) -> None:
    await db.urgent_notices.insert_one({"_id": "n", "due": 1795313100.25, "reminded": 0})
    first = await db.urgent_notices.find_one_and_update(
        {"_id": "n", "due": 1795313100.25}, {"$set": {"due": 1795313400.5},
                                             "$inc": {"reminded": 1}},
        return_document=ReturnDocument.AFTER)
    second = await db.urgent_notices.find_one_and_update(
        {"_id": "n", "due": 1795313100.25}, {"$set": {"due": 1.0}})
    assert first is not None and first["reminded"] == 1 and second is None


async def test_datetimes_round_trip_as_aware_datetimes(db: Database) -> None:
    at = datetime(2026, 11, 22, 2, 0, 0, 123000, tzinfo=UTC)
    await db.changes.insert_one({"_id": 1, "at": at})
    found = await db.changes.find_one({"_id": 1})
    assert found is not None and found["at"] == at and found["at"].tzinfo is not None


@pytest.mark.xfail(strict=True, reason=f"the multikey index keeps the old elements; {FOUND}")
async def test_equality_on_an_array_finds_a_document_after_the_array_is_set(
        db: Database) -> None:
    await db.cards.create_index("pending_ids")
    await db.cards.insert_one({"_id": "c", "pending_ids": ["director"]})
    await db.cards.update_one({"_id": "c"}, {"$set": {"pending_ids": ["deputy"]}})
    assert await ids(db.cards.find({"pending_ids": "deputy"})) == ["c"]


async def test_all_on_an_array_finds_a_document_after_the_array_is_set(db: Database) -> None:
    await db.cards.create_index("pending_ids")
    await db.cards.insert_one({"_id": "c", "pending_ids": ["director"]})
    await db.cards.update_one({"_id": "c"}, {"$set": {"pending_ids": ["deputy"]}})
    assert await ids(db.cards.find({"pending_ids": {"$all": ["deputy"]}})) == ["c"]
    assert await ids(db.cards.find({"pending_ids": {"$all": ["director"]}})) == []


@pytest.mark.xfail(strict=True, reason=f"$addToSet on a missing field changes nothing; {FOUND}")
async def test_add_to_set_creates_a_missing_array(db: Database) -> None:
    await db.attachments.insert_one({"_id": "f"})
    await db.attachments.update_one({"_id": "f"}, {"$addToSet": {"card_ids": "c1"}})
    found = await db.attachments.find_one({"_id": "f"})
    assert found is not None and found.get("card_ids") == ["c1"]


async def test_add_to_set_on_an_existing_array_adds_each_value_once(db: Database) -> None:
    await db.attachments.insert_one({"_id": "f", "card_ids": []})
    for card_id in ("c1", "c2", "c1"):
        await db.attachments.update_many({"_id": {"$in": ["f"]}},
                                         {"$addToSet": {"card_ids": card_id}})
    found = await db.attachments.find_one({"_id": "f"})
    assert found is not None and found["card_ids"] == ["c1", "c2"]


async def test_room_search_combines_in_gte_equality_and_all_sorted_by_two_keys(
        db: Database) -> None:
    await db.rooms.create_index([("status", ASCENDING), ("capacity", ASCENDING)])
    await db.rooms.insert_many([
        {"_id": "a", "name": "B", "capacity": 10, "status": "active", "building": "x",
         "equipment": ["projector", "wifi"]},
        {"_id": "b", "name": "A", "capacity": 10, "status": "maintenance", "building": "x",
         "equipment": ["wifi"]},
        {"_id": "c", "name": "C", "capacity": 50, "status": "retired", "building": "x",
         "equipment": ["wifi"]},
        {"_id": "d", "name": "D", "capacity": 8, "status": "active", "building": "x",
         "equipment": ["wifi"]},
        {"_id": "e", "name": "E", "capacity": 30, "status": "active", "building": "y",
         "equipment": ["wifi"]}])
    query = {"status": {"$in": ["active", "maintenance"]}, "capacity": {"$gte": 10},
             "building": "x", "equipment": {"$all": ["wifi"]}}
    assert await ids(db.rooms.find(query).sort([("capacity", ASCENDING), ("name", ASCENDING)])
                     ) == ["b", "a"]


async def test_find_one_and_update_upsert_with_set_takes_the_id_from_the_filter(
        db: Database) -> None:
    for buildings in (["东楼"], ["西楼"]):
        found = await db.room_scopes.find_one_and_update(
            {"_id": "bmgr"}, {"$set": {"buildings": buildings, "dept_ids": []}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        assert found == {"_id": "bmgr", "buildings": buildings, "dept_ids": []}
    assert await db.room_scopes.count_documents({}) == 1


async def test_a_document_of_nested_arrays_and_documents_inserted_whole_reads_back(
        db: Database) -> None:
    changes = {"equipment": [["wifi"], ["projector", "wifi"]],
               "open_hours": [None, {"start": "08:00", "end": "18:00"}], "area_m2": [None, 3.5]}
    await db.room_edits.insert_one({"_id": "r:1", "room_id": "r", "version": 1,
                                    "changes": changes})
    found = await db.room_edits.find_one({"_id": "r:1"})
    assert found is not None and found["changes"] == changes
