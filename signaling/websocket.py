"""The WebSocket transport under Engine.IO, without permessage-deflate unless configured.

aiohttp negotiates permessage-deflate whenever a client offers it (every browser does): each
socket then keeps zlib state of its own (several times the memory of an idle socket) and
every frame is compressed separately for every recipient, which is most of the CPU of a
fan-out. Chat frames are a few hundred bytes on a LAN, where compression does not pay; the
Node reference server also leaves it off by default."""

from __future__ import annotations

from typing import Any

from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket


def websocket_driver(compress: bool) -> type[WebSocket]:
    class Driver(WebSocket):  # type: ignore[misc]
        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ["aiohttp.request"]
            self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size,
                                           compress=compress)
            await self._sock.prepare(request)
            self.environ = environ
            await self.handler(self)
            return self._sock

    return Driver


def install(sio: Any, compress: bool) -> None:
    """Make the Socket.IO server's Engine.IO use our WebSocket driver."""
    sio.eio._async = {**sio.eio._async, "websocket": websocket_driver(compress)}
