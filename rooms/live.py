"""Live room status (PROTOCOL §5): `room:status` whenever a room becomes busy or free, one of
its bookings starts or ends, changes or is released, or a manager changes the room. The clock
drives it, not clients polling.

Each room's next moment of change (rooms/rules.py `next_change_at`) is kept in one Redis
sorted set shared by every node. Every node ticks; a tick claims the rooms that are due by
moving their moment a lease ahead (one script, so two nodes never take the same room), lets
the room's bookings settle (releases), pushes the room's status and sets its next moment. A
node killed in between leaves only the lease, and some node takes the room when it runs out.
Changes made through the service push at once, from the node that made them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from core.bus import DomainEvent, EventBus
from core.clock import Clock, iso
from core.errors import NotFound
from core.redis import Keys
from core.tasks import Periodic
from rooms.booking_store import Schedule
from rooms.bookings import BookingService
from rooms.catalogue import RoomCatalogue
from rooms.models import Room
from rooms.rules import next_change_at, room_state

log = logging.getLogger(__name__)

ROOMS_TOPIC = "rooms"
LEASE_SECONDS = 30.0
_CLAIM_BATCH = 200

# KEYS[1] the set; ARGV: now, lease end, limit. Returns the due rooms, now leased.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
"""


class RoomTimers:
    """When each room next changes by the clock alone."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys("rooms", "next-change")
        self._claim = redis.register_script(_CLAIM)

    async def set(self, room_id: str, at: datetime | None) -> None:
        if at is None:
            await self._redis.zrem(self._key, room_id)
        else:
            await self._redis.zadd(self._key, {room_id: at.timestamp()})

    async def claim(self, now: float, lease: float, limit: int) -> list[str]:
        due = await self._claim(keys=[self._key], args=[now, now + lease, limit])
        return [d.decode() if isinstance(d, bytes) else str(d) for d in due]


def status_of(room: Room, schedule: Schedule, now: datetime) -> dict[str, Any]:
    """The wire `room:status` of a room."""
    state, booking, next_change = room_state(schedule.holding, now)
    return {"room_id": room.id, "state": state,
            "booking": booking.to_wire() if booking else None,
            "next_change_at": iso(next_change) if next_change else None,
            "room_status": room.status.value}


class LiveRooms:
    def __init__(self, bookings: BookingService, catalogue: RoomCatalogue, timers: RoomTimers,
                 bus: EventBus, clock: Clock, tick_seconds: float = 1.0) -> None:
        self._bookings = bookings
        self._catalogue = catalogue
        self._timers = timers
        self._bus = bus
        self._clock = clock
        self._ticker = Periodic(clock, tick_seconds, self.tick, "room status ticker")

    def start(self) -> None:
        """Tick; and time every booked room as the bookings service loads its schedule at its
        start (the set may be new, or lost with Redis)."""
        self._bookings.on_load(self._timed)
        self._ticker.start()

    async def stop(self) -> None:
        await self._ticker.stop()

    async def changed(self, room_id: str) -> None:
        """The room or its bookings changed: push its status and time its next change."""
        await self._refresh(room_id)

    async def tick(self) -> None:
        now = self._clock.time()
        for room_id in await self._timers.claim(now, LEASE_SECONDS, _CLAIM_BATCH):
            try:
                if not await self._bookings.settle(room_id):
                    await self._refresh(room_id)
            except NotFound:
                await self._timers.set(room_id, None)
            except Exception:
                log.exception("room %s: settling failed; retried after the lease", room_id)

    async def snapshot(self, building: str | None = None) -> list[dict[str, Any]]:
        """The status of every listed room (in `building`), smallest first."""
        rooms = await self._catalogue.search(building=building)
        schedules = await self._bookings.schedules([r.id for r in rooms])
        now = self._clock.now()
        return [status_of(room, schedules[room.id], now) for room in rooms]

    async def _timed(self, schedule: Schedule) -> Room:
        room = await self._catalogue.get(schedule.room_id)
        await self._timers.set(room.id, next_change_at(schedule.bookings, room,
                                                       self._clock.now()))
        return room

    async def _refresh(self, room_id: str) -> None:
        schedule = await self._bookings.schedule(room_id)
        room = await self._timed(schedule)
        await self._bus.publish(DomainEvent(
            "room:status", status_of(room, schedule, self._clock.now()), topics=(ROOMS_TOPIC,)))
