"""Fan-out between nodes and to this node's sockets.

Between nodes: python-socketio's Redis manager, with an owner that can stop it.
To local sockets: an emit is encoded once and the same Engine.IO packet is queued on every
recipient socket, without a task per recipient (the library creates one per recipient per
emit, which dominates the cost of delivering to large rooms)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from core.redis import connect_redis
from signaling.websocket import DirectSockets, text_frame


class EncodeOnceManager(socketio.AsyncManager):  # type: ignore[misc]
    """Local delivery of emits without acknowledgement callbacks: one encoding and one frame
    for all recipients, written directly where a socket's writer is idle, else one queue
    append per socket (its writer task keeps its packets in order)."""

    direct: DirectSockets | None = None

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        if callback is not None:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, to=to, **kwargs)
            return
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            args = list(data)
        else:
            args = [] if data is None else [data]
        skip = set(skip_sid if isinstance(skip_sid, list) else [skip_sid])
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace,
                                           data=[event, *args]).encode()
        frames = encoded if isinstance(encoded, list) else [encoded]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, frame) for frame in frames]
        direct = self.direct
        # Binary attachments come as several packets; only a single text packet goes direct.
        ws_frame = (text_frame(packets[0].encode()) if direct is not None and len(packets) == 1
                    and isinstance(frames[0], str) else None)
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            if ws_frame is not None and direct is not None and \
                    direct.try_write(socket, ws_frame):
                continue
            for pkt in packets:
                socket.queue.put_nowait(pkt)


class RedisFanout(socketio.AsyncRedisManager, EncodeOnceManager):  # type: ignore[misc]
    """AsyncRedisManager (whose pub/sub hands received emits to EncodeOnceManager) whose
    listener task and connections are closed on shutdown (the library leaves them running,
    and they retry forever once Redis is gone)."""

    def _redis_connect(self) -> None:
        # The library builds a new client each time its publisher or listener (re)connects and
        # drops the old one unclosed; keep one client (its pool reconnects by itself) and
        # replace only the subscription.
        redis: Any = getattr(self, "redis", None)
        if redis is None:
            # python-socketio compares channel names as bytes.
            self.redis = connect_redis(self.redis_url, decode_responses=False)
            self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            self.connected = True
            return
        old: Any = getattr(self, "pubsub", None)
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True
        if old is not None:
            self._closing = asyncio.ensure_future(old.aclose())

    async def close(self) -> None:
        thread: Any = getattr(self, "thread", None)
        if isinstance(thread, asyncio.Task):
            thread.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await thread
        pubsub: Any = getattr(self, "pubsub", None)
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        redis: Any = getattr(self, "redis", None)
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.aclose()
