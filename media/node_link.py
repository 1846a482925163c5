"""Requests from one node to another over Redis pub/sub: the signalling of a socket held by
one node reaches the media node of its meeting this way (PROTOCOL §6).

A request names the caller; the answer comes back on the caller's own channel. No answer
within the timeout means the media node is gone: the caller gets `unavailable`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from core.errors import AppError, ErrorCode, Unavailable
from core.redis import Keys

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class RemoteError(AppError):
    """An error the other node answered with, carried over with its code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)


class NodeLink:
    def __init__(self, redis: Redis, keys: Keys, node_id: str, handler: Handler,
                 timeout: float = 5.0) -> None:
        self._redis = redis
        self._keys = keys
        self._node_id = node_id
        self._handler = handler
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._handling: set[asyncio.Task[None]] = set()

    def _channel(self, node_id: str) -> str:
        return self._keys("media", "link", node_id)

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._listen())
        await asyncio.wait_for(self._ready.wait(), self._timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for task in list(self._handling):
            task.cancel()

    async def call(self, node_id: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        request_id = secrets.token_hex(8)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiter
        try:
            await self._redis.publish(self._channel(node_id), json.dumps(
                {"kind": "request", "id": request_id, "from": self._node_id, "op": op,
                 "args": args}))
            reply = await asyncio.wait_for(waiter, self._timeout)
        except TimeoutError as exc:
            raise Unavailable(f"media node {node_id} does not answer") from exc
        finally:
            self._waiting.pop(request_id, None)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise RemoteError(error.get("code", "internal"), error.get("message", ""))
        data: dict[str, Any] = reply.get("data") or {}
        return data

    async def _listen(self) -> None:
        pubsub: Any = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel(self._node_id))
            self._ready.set()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                try:
                    body = json.loads(message["data"])
                except (ValueError, TypeError):
                    continue
                if body.get("kind") == "reply":
                    waiter = self._waiting.get(body.get("id", ""))
                    if waiter is not None and not waiter.done():
                        waiter.set_result(body)
                elif body.get("kind") == "request":
                    task = asyncio.ensure_future(self._answer(body))
                    self._handling.add(task)
                    task.add_done_callback(self._handling.discard)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _answer(self, body: dict[str, Any]) -> None:
        try:
            reply: dict[str, Any] = {"ok": True,
                                     "data": await self._handler(body["op"], body["args"])}
        except AppError as exc:
            reply = {"ok": False, "error": exc.to_wire()}
        except Exception:
            log.exception("media request %s failed", body.get("op"))
            reply = {"ok": False, "error": {"code": "internal", "message": "internal error"}}
        reply.update(kind="reply", id=body.get("id"))
        await self._redis.publish(self._channel(body.get("from", "")), json.dumps(reply))
