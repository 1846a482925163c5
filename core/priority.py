"""Work someone is waiting to see goes first; work that can come a moment later waits.

The embedded store answers one operation at a time: a burst of people acting at once would
otherwise find each one's few urgent operations queued behind the follow-up work (audit
entries, record cards, deliveries) of those who came a moment earlier."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress


class Urgency:
    def __init__(self, max_wait_seconds: float) -> None:
        self._max_wait = max_wait_seconds
        self._urgent = 0
        self._calm = asyncio.Event()
        self._calm.set()

    @contextmanager
    def urgent(self) -> Iterator[Callable[[], None]]:
        """Urgent work in progress until the block ends or the yielded callable is called
        (whichever comes first)."""
        finished = False

        def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            self._urgent -= 1
            if self._urgent == 0:
                self._calm.set()

        self._urgent += 1
        self._calm.clear()
        try:
            yield finish
        finally:
            finish()

    async def calm(self) -> None:
        """Return once no urgent work is in progress, or after the longest wait: under
        steady load the follow-up work is delayed, never starved."""
        with suppress(TimeoutError):
            async with asyncio.timeout(self._max_wait):
                await self._calm.wait()
