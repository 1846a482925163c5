"""Owned background tasks: started by a service, cancelled and awaited when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.clock import Clock

log = logging.getLogger(__name__)

_RETRY_SECONDS = 0.05


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel until the task is done. A library somewhere below may swallow one
    CancelledError (redis-py does while it tears a connection down); cancelling again
    reaches the task at its next await."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RETRY_SECONDS)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def run_every(clock: Clock, seconds: float, step: Callable[[], Awaitable[None]],
                    what: str) -> None:
    """Call `step` every `seconds` of `clock` until cancelled; a failed step is logged and the
    next one runs as usual. The cadence is kept from the schedule, not from when a step
    ended: when the clock has moved past the next time (a long step, a stalled loop, a test's
    clock jumping while a step runs) the next step runs at once, then the cadence resumes."""
    due = clock.time() + seconds
    while True:
        await clock.sleep(due - clock.time())
        try:
            await step()
        except Exception:
            log.exception("%s failed", what)
        due = max(due + seconds, clock.time())


class Periodic:
    """A step that runs every `seconds` of `clock` from `start()` until `stop()`."""

    def __init__(self, clock: Clock, seconds: float, step: Callable[[], Awaitable[None]],
                 what: str) -> None:
        self._clock = clock
        self._seconds = seconds
        self._step = step
        self._what = what
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(
            run_every(self._clock, self._seconds, self._step, self._what), name=self._what)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
