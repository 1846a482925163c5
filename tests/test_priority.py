"""Urgent work first: follow-up work waits while urgent work is in progress, but not for ever."""

from __future__ import annotations

import asyncio

from core.priority import Urgency


async def test_follow_up_work_goes_at_once_when_nothing_is_urgent() -> None:
    async with asyncio.timeout(0.2):
        await Urgency(max_wait_seconds=60).calm()


async def test_follow_up_work_waits_until_the_last_urgent_work_is_done() -> None:
    urgency = Urgency(max_wait_seconds=60)
    with urgency.urgent() as first_done, urgency.urgent():
        waiting = asyncio.create_task(urgency.calm())
        first_done()
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the second is still urgent
    async with asyncio.timeout(0.2):
        await waiting


async def test_follow_up_work_goes_after_the_longest_wait_even_under_steady_urgency() -> None:
    urgency = Urgency(max_wait_seconds=0.05)
    with urgency.urgent():
        async with asyncio.timeout(0.5):
            await urgency.calm()


async def test_finishing_urgent_work_twice_counts_once() -> None:
    urgency = Urgency(max_wait_seconds=60)
    with urgency.urgent(), urgency.urgent() as done:
        done()
        done()
        waiting = asyncio.create_task(urgency.calm())
        await asyncio.sleep(0.01)
        assert not waiting.done()
    await waiting
