"""This node as a media node: its SFU, its registration in Redis, and its link to the others."""

from __future__ import annotations

import contextlib
from typing import Any

from redis.asyncio import Redis

from core.bus import DomainEvent, EventBus
from core.clock import Clock
from core.redis import Keys
from core.tasks import Periodic
from media.aiortc_bridge import check_version
from media.node_link import NodeLink
from media.placement import MediaNodes
from media.recorder import Recorders
from media.router import MediaRouter
from media.sfu import SFU, Push


class MediaNode:
    def __init__(self, redis: Redis, keys: Keys, clock: Clock, node_id: str, push: Push,
                 host_addresses: list[str], node_ttl: float, keyframe_interval: float,
                 recorders: Recorders | None = None) -> None:
        check_version()
        self.sfu = SFU(push, host_addresses, keyframe_interval)
        self.sfu.recorders = recorders
        self.nodes = MediaNodes(redis, keys, node_id, node_ttl, lambda: self.sfu.load)
        self.router = MediaRouter(self.sfu, self.nodes)
        self.link = NodeLink(redis, keys, node_id, self.router.handle)
        self.router.link = self.link
        self._heartbeat = Periodic(clock, node_ttl / 3, self.nodes.heartbeat,
                                   "media node heartbeat")

    async def start(self) -> None:
        await self.link.start()
        await self.nodes.heartbeat()
        self._heartbeat.start()

    async def stop(self) -> None:
        await self._heartbeat.stop()
        with contextlib.suppress(Exception):
            await self.nodes.withdraw()
        await self.link.stop()
        await self.sfu.close()
        if self.sfu.recorders is not None:
            await self.sfu.recorders.close()


def bus_push(bus: EventBus) -> Push:
    """Deliver the SFU's pushes to sockets by id, on whichever node holds them."""

    async def push(name: str, payload: dict[str, Any], sids: list[str]) -> None:
        await bus.publish(DomainEvent(name, payload, topics=tuple(sids)))

    return push
