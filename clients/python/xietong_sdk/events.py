"""Subscriptions: handlers per event name and for every event, plain or `async`.

Plain handlers run at once, in the order events arrive. Coroutine handlers run one at a time
in arrival order on a task of their own, so a slow one never holds the socket's reading and
never sees events out of order. A handler that raises is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger("xietong_sdk")

Handler = Callable[[Any], Awaitable[None] | None]
AnyHandler = Callable[[str, Any], Awaitable[None] | None]
H = TypeVar("H", bound=Callable[..., Any])


class Emitter:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._any: list[AnyHandler] = []
        self._queue: asyncio.Queue[tuple[str, Awaitable[Any]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def on(self, event: str, handler: H) -> H:
        """Call `handler(data)` for each `event`; returns `handler`."""
        self._handlers.setdefault(event, []).append(handler)
        return handler

    def on_any(self, handler: H) -> H:
        """Call `handler(event, data)` for every event."""
        self._any.append(handler)
        return handler

    def off(self, event: str | None, handler: Callable[..., Any]) -> None:
        """Stop calling `handler` (`event` None: an `on_any` handler)."""
        handlers: list[Any] = self._any if event is None else self._handlers.get(event, [])
        with contextlib.suppress(ValueError):
            handlers.remove(handler)

    def emit(self, event: str, data: Any) -> None:
        for handler in list(self._handlers.get(event, ())):
            self._run(handler, event, (data,))
        for any_handler in list(self._any):
            self._run(any_handler, event, (event, data))

    def _run(self, handler: Callable[..., Any], event: str, args: tuple[Any, ...]) -> None:
        try:
            result = handler(*args)
        except Exception:
            log.exception("a handler of %s failed", event)
            return
        if inspect.isawaitable(result):
            self._enqueue(event, result)

    def _enqueue(self, event: str, awaitable: Awaitable[Any]) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._queue.put_nowait((event, awaitable))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(self._queue))

    @staticmethod
    async def _work(queue: asyncio.Queue[tuple[str, Awaitable[Any]]]) -> None:
        while not queue.empty():
            event, awaitable = queue.get_nowait()
            try:
                await awaitable
            except Exception:
                log.exception("a handler of %s failed", event)

    async def drain(self) -> None:
        """Wait until every coroutine handler called so far has finished."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    async def close(self) -> None:
        """Stop running coroutine handlers (those not yet started are dropped)."""
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self._queue is not None:
            while not self._queue.empty():
                _, pending = self._queue.get_nowait()
                if inspect.iscoroutine(pending):
                    pending.close()
