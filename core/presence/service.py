"""Presence service: devices per user across nodes, node heartbeats and the sweeper."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.bus import DomainEvent, EventBus
from core.clock import Clock
from core.presence.rules import Device, Snapshot, Status, compute_snapshot, is_idle
from core.presence.store import PresenceStore
from core.tasks import Periodic

log = logging.getLogger(__name__)

MAX_WATCHED = 1000
# A socket's activity is written to Redis at most this often; idleness is measured in minutes.
_TOUCH_EVERY = 30.0


@dataclass(frozen=True)
class PresencePolicy:
    ttl: float  # a dead node's devices stop counting within this
    idle_after: float  # online -> away
    offline_grace: float  # a last device that reconnects within this causes no push

    @property
    def tick(self) -> float:
        return self.ttl / 4

    @property
    def heartbeat_ms(self) -> int:
        return int(self.ttl * 1000 / 2)


@dataclass
class _LocalDevice:
    user_id: str
    device: Device
    written_at: float
    idle_reported: bool = False


class PresenceService:
    def __init__(self, store: PresenceStore, bus: EventBus, clock: Clock, node_id: str,
                 policy: PresencePolicy) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._node_id = node_id
        self._policy = policy
        self._local: dict[str, _LocalDevice] = {}
        self._ticker = Periodic(clock, policy.tick, self.tick, f"presence-{node_id}")

    def device_id(self, sid: str) -> str:
        return f"{self._node_id}:{sid}"

    # lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._store.beat(self._node_id, self._policy.heartbeat_ms)
        self._ticker.start()

    async def stop(self) -> None:
        """Stop beating and take this node's devices out, as a clean shutdown does."""
        await self._ticker.stop()
        users = await self._store.drop_node(self._node_id)
        self._local.clear()
        for user_id in users:
            await self._reconcile(user_id)

    async def tick(self) -> None:
        now = self._clock.time()
        await self._store.beat(self._node_id, self._policy.heartbeat_ms)
        for node_id in await self._store.dead_nodes():
            if node_id == self._node_id:
                continue
            log.info("sweeping devices of dead node %s", node_id)
            for user_id in await self._store.drop_node(node_id):
                await self._reconcile(user_id)
        for user_id in await self._store.claim_due_offline(now):
            await self._reconcile(user_id)
        await self._report_idle(now)

    async def _report_idle(self, now: float) -> None:
        users: dict[str, list[_LocalDevice]] = {}
        for local in self._local.values():
            users.setdefault(local.user_id, []).append(local)
        for user_id, devices in users.items():
            idle = all(is_idle(d.device, now, self._policy.idle_after) for d in devices)
            if idle and not all(d.idle_reported for d in devices):
                for d in devices:
                    d.idle_reported = True
                await self._reconcile(user_id)

    # devices -----------------------------------------------------------------------------

    async def do_connect(self, user_id: str, sid: str, kind: str) -> None:
        now = self._clock.time()
        device = Device(self.device_id(sid), kind, now, now)
        self._local[device.id] = _LocalDevice(user_id, device, now)
        await self._store.add_device(user_id, device)
        await self._reconcile(user_id)

    async def do_disconnect(self, user_id: str, sid: str) -> None:
        device_id = self.device_id(sid)
        self._local.pop(device_id, None)
        remaining = await self._store.remove_device(user_id, device_id)
        if not any(d.user_id == user_id for d in self._local.values()):
            await self._store.forget_user_on_node(self._node_id, user_id)
        if remaining > 0 or self._policy.offline_grace <= 0:
            await self._reconcile(user_id)
        else:
            # A page reload or a network blip reconnects within the grace: no offline push.
            await self._store.schedule_offline(user_id,
                                               self._clock.time() + self._policy.offline_grace)

    async def note_activity(self, sid: str) -> None:
        local = self._local.get(self.device_id(sid))
        if local is None:
            return
        now = self._clock.time()
        was_idle = local.idle_reported
        local.device = Device(local.device.id, local.device.kind, local.device.connected_at, now)
        if not was_idle and now - local.written_at < _TOUCH_EVERY:
            return
        local.written_at = now
        local.idle_reported = False
        await self._store.touch(local.user_id, local.device.id, now)
        if was_idle:
            await self._reconcile(local.user_id)

    async def do_set_status(self, user_id: str, status: Status) -> Snapshot:
        await self._store.set_manual_away(user_id, status == Status.AWAY)
        return await self._reconcile(user_id)

    async def get_presence(self, user_ids: list[str]) -> dict[str, Snapshot]:
        return await self._store.get_snapshots(user_ids)

    async def get_device_ids(self, user_id: str) -> list[str]:
        return [d.id for d in await self._store.get_devices(user_id)]

    async def _reconcile(self, user_id: str) -> Snapshot:
        now = self._clock.time()

        def decide(devices: list[Device], manual_away: bool) -> Snapshot:
            return compute_snapshot(devices, manual_away, now, self._policy.idle_after)

        old, new = await self._store.reconcile(user_id, decide)
        if old != new:
            await self._bus.publish(DomainEvent(
                "presence", {"user_id": user_id, **new.to_wire()},
                topics=(f"presence:{user_id}",)))
        return new
