"""Writes that arrive together go to MongoDB together; so do reads by id, compare-and-sets
on a version, and calls of a Redis script over keys.

Concurrent callers each await their own item; the items queued while a batch is in flight
leave as the next batch. Under load this turns hundreds of round trips into a few (the
embedded Mongo-wire server stores 10,000 documents a second this way and under 2,000 one at a
time); with one caller it costs nothing but a loop turn. Each caller gets its own outcome: a
duplicate key fails only the write that caused it."""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure
from redis.commands.core import AsyncScript

from core.mongo import Document

Write = InsertOne[Document] | UpdateOne
_DUPLICATE_KEY = 11000
Item = TypeVar("Item")
Result = TypeVar("Result")


class Batches(ABC, Generic[Item, Result]):
    """The queue: an item waits for the batch in flight, then leaves with the others that
    waited with it."""

    def __init__(self, max_batch: int, name: str) -> None:
        self._max_batch = max_batch
        self._name = name
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running: asyncio.Task[None] | None = None

    async def _submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain(), name=self._name)
        # The batch runs for every caller in it: one caller's cancellation must not stop it.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
            try:
                await self._run(batch)
            except BaseException as exc:
                stopped = not isinstance(exc, Exception)
                if stopped:  # cancelled: nothing queued will run
                    batch, self._queue = batch + self._queue, []
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if stopped:
                    raise

    @abstractmethod
    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        """Settle every future of the batch (an exception escaping settles the rest)."""


class BulkWriter(Batches[Write, None]):
    """Inserts and updates as one unordered `bulk_write`."""

    def __init__(self, collection: AsyncCollection[Document], max_batch: int = 1000) -> None:
        super().__init__(max_batch, "bulk-writer")
        self._collection = collection

    async def write(self, operation: Write) -> None:
        await self._submit(operation)

    async def _run(self, batch: list[tuple[Write, asyncio.Future[None]]]) -> None:
        failures: dict[int, BaseException] = {}
        try:
            await self._collection.bulk_write([op for op, _ in batch], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                failures[int(error["index"])] = _error(error)
        for index, (_, future) in enumerate(batch):
            if future.done():
                continue
            if index in failures:
                future.set_exception(failures[index])
            else:
                future.set_result(None)


def _error(error: dict[str, Any]) -> OperationFailure:
    message = str(error.get("errmsg", "write failed"))
    code = int(error.get("code", 0))
    if code == _DUPLICATE_KEY:
        return DuplicateKeyError(message, code, error)
    return OperationFailure(message, code, error)


class BatchReader(Batches[Any, Document | None]):
    """Reads by `_id` as one `find` with `$in`. A read never returns a document older than
    the moment it was asked for, since its batch leaves after it is queued."""

    def __init__(self, collection: AsyncCollection[Document], max_batch: int = 500,
                 projection: dict[str, Any] | None = None) -> None:
        super().__init__(max_batch, "batch-reader")
        self._collection = collection
        self._projection = projection

    async def get(self, doc_id: Any) -> Document | None:
        return await self._submit(doc_id)

    async def _run(self, batch: list[tuple[Any, asyncio.Future[Document | None]]]) -> None:
        ids = list(dict.fromkeys(doc_id for doc_id, _ in batch))
        found = {doc["_id"]: doc
                 async for doc in self._collection.find({"_id": {"$in": ids}},
                                                         self._projection)}
        for doc_id, future in batch:
            if not future.done():
                future.set_result(found.get(doc_id))


# Where each version's writer leaves its mark: {"<version>": "<token>"}.
WRITERS = "_writers"
_Change = tuple[Any, int, Document, str]  # doc id, version expected, $set, writer's token


class VersionedWriter(Batches[_Change, Document | None]):
    """Compare-and-set on a document's `version`, many at once: one unordered `bulk_write`
    of updates each guarded on its version, then one read of the documents back.

    A bulk write says how many updates matched, not which. So each update also records a
    token of its own under `_writers.<new version>`: only the one update that moved a
    document from version v to v+1 ever sets that key, so the read back tells each caller
    whether it won, even when later writers have moved the document on since."""

    def __init__(self, collection: AsyncCollection[Document],
                 projection: dict[str, Any] | None = None, max_batch: int = 500) -> None:
        super().__init__(max_batch, "versioned-writer")
        self._collection = collection
        self._projection = {**(projection or {}), WRITERS: 1}

    async def replace_if_version(self, doc_id: Any, version: int,
                                 changes: Document) -> Document | None:
        """Set `changes` and `version + 1` if the document is at `version`: the document
        right after (its projected fields), or None when another writer got there first."""
        return await self._submit((doc_id, version, changes, uuid.uuid4().hex))

    async def _run(self, batch: list[tuple[_Change, asyncio.Future[Document | None]]]) -> None:
        await self._collection.bulk_write(
            [UpdateOne({"_id": doc_id, "version": version},
                       {"$set": {**changes, "version": version + 1,
                                 f"{WRITERS}.{version + 1}": token}})
             for (doc_id, version, changes, token), _ in batch], ordered=False)
        ids = list(dict.fromkeys(doc_id for (doc_id, *_), _ in batch))
        found = {doc["_id"]: doc
                 async for doc in self._collection.find({"_id": {"$in": ids}},
                                                         self._projection)}
        for (doc_id, version, _, token), future in batch:
            doc = found.get(doc_id)
            won = doc is not None and (doc.get(WRITERS) or {}).get(str(version + 1)) == token
            if not future.done():
                future.set_result(doc if won else None)


class ScriptBatch(Batches[list[str], list[Any]]):
    """Calls of one Redis script that answers one item per key, in order, each key on its
    own: the keys of the callers arriving together go as one call (the round trip, not the
    script, is what costs a few hundred callers)."""

    def __init__(self, script: AsyncScript, max_batch: int = 500) -> None:
        super().__init__(max_batch, "script-batch")
        self._script = script

    async def call(self, keys: list[str]) -> list[Any]:
        return await self._submit(keys)

    async def _run(self, batch: list[tuple[list[str], asyncio.Future[list[Any]]]]) -> None:
        answers = list(await self._script(keys=[key for keys, _ in batch for key in keys]))
        start = 0
        for keys, future in batch:
            if not future.done():
                future.set_result(answers[start:start + len(keys)])
            start += len(keys)
