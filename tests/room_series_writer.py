"""A process that books recurring series as fast as it can until it is killed: the test of a
process killed midway (tests/test_room_bookings.py) runs it and kills it.

Usage: python -m tests.room_series_writer '<config as JSON>' <booker's user id>
Prints one line per series booked."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

from core.config import Config
from core.errors import Conflict
from signaling.app import build_node

ROOMS = ("room-main-301", "room-main-302", "room-main-501")
OCCURRENCES = 10


async def main(raw: str, booker: str) -> None:
    fields = json.loads(raw)
    config = Config(**{**fields, "data_dir": Path(fields["data_dir"]), "demo": False})
    node = await build_node(config)
    tz = config.org_tz
    first = datetime.now(tz).date() + timedelta(days=1)
    # Daily series of ten, one per (room, hour, ten-day block): none clash with another.
    for block in range(8):
        for hour in range(8, 18):
            for room_id in ROOMS:
                start = datetime.combine(first + timedelta(days=10 * block), time(hour),
                                         tzinfo=tz)
                try:
                    booked = await node.services.bookings.book(booker, {
                        "room_id": room_id, "title": f"系列 {block}-{hour}",
                        "start": start.isoformat(),
                        "end": (start + timedelta(minutes=30)).isoformat(),
                        "recurrence": {"freq": "daily", "count": OCCURRENCES}})
                except Conflict:
                    continue  # booked by an earlier run of this process
                print(booked.bookings[0].series_id, flush=True)
    await node.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
