"""The WebSocket transport under Engine.IO: without permessage-deflate unless configured, and
with a direct path that writes one pre-built frame to many sockets.

Compression: aiohttp negotiates permessage-deflate whenever a client offers it (every browser
does); each socket then keeps zlib state of its own (several times the memory of an idle
socket) and every frame is compressed separately for every recipient, which is most of the
CPU of a fan-out. Chat frames are a few hundred bytes on a LAN, where it does not pay; the
Node reference server leaves it off by default too.

Direct writes: Engine.IO gives every socket a queue and a writer task, so one push to a
group of 2,000 wakes 2,000 tasks that each frame the same bytes. When a socket's writer is
idle (waiting on an empty queue) and its transport is keeping up, a push is instead written
straight to the transport as a frame built once for all recipients. Otherwise it is queued
as before, so a slow socket gets flow control and nothing overtakes a queued packet."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket

# Above this many unsent bytes a socket gets its pushes through its queue (and flow control).
_DIRECT_BUFFER_LIMIT = 64 * 1024


def text_frame(text: str) -> bytes:
    """An unmasked, unfragmented server-to-client text frame (RFC 6455 §5.2)."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


class DirectSockets:
    """The aiohttp WebSocket behind each upgraded Engine.IO socket of this node, and the
    frames written to them during the current turn of the event loop: they leave together
    at its end, one write per socket however many pushes it got (a busy node, whose turns
    grow long, saves the most system calls)."""

    def __init__(self) -> None:
        self._by_sid: dict[str, WebSocketResponse] = {}
        self._pending: dict[Any, list[bytes]] = {}

    def add(self, eio_sid: str, ws: WebSocketResponse) -> None:
        self._by_sid[eio_sid] = ws

    def remove(self, eio_sid: str) -> None:
        self._by_sid.pop(eio_sid, None)

    def try_write(self, socket: Any, frame: bytes) -> bool:
        """Write `frame` this turn if nothing queued for `socket` could be overtaken."""
        ws = self._by_sid.get(socket.sid)
        if ws is None or not socket.upgraded or socket.closed:
            return False
        writer = getattr(ws, "_writer", None)
        transport = getattr(writer, "transport", None)
        if transport is None or transport.is_closing():
            return False
        pending = self._pending.get(transport)
        if pending is not None:
            pending.append(frame)  # after this turn's earlier pushes, never queued ones
            return True
        queue = socket.queue
        # The writer holds no packet only while it waits on an empty queue; asyncio.Queue
        # keeps its waiting getters in `_getters`.
        if not queue.empty() or not getattr(queue, "_getters", None):
            return False
        if transport.get_write_buffer_size() > _DIRECT_BUFFER_LIMIT:
            return False
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending[transport] = [frame]
        return True

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for transport, frames in pending.items():
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))


def websocket_driver(compress: bool, direct: DirectSockets) -> type[WebSocket]:
    class Driver(WebSocket):  # type: ignore[misc]
        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ["aiohttp.request"]
            self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size,
                                           compress=compress)
            await self._sock.prepare(request)
            self.environ = environ
            # The handler is the Engine.IO socket's websocket loop, bound to that socket.
            eio_sid = getattr(getattr(self.handler, "__self__", None), "sid", None)
            if eio_sid is not None:
                direct.add(eio_sid, self._sock)
            try:
                await self.handler(self)
            finally:
                if eio_sid is not None:
                    direct.remove(eio_sid)
            return self._sock

    return Driver


def install(sio: Any, compress: bool, direct: DirectSockets) -> None:
    """Make the Socket.IO server's Engine.IO use our WebSocket driver."""
    sio.eio._async = {**sio.eio._async, "websocket": websocket_driver(compress, direct)}
