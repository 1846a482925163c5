"""The transport: one Socket.IO connection, its acknowledged calls and its pushes.

It never reconnects by itself (`XietongClient` decides when and where); it only says when it
dropped. Every client-to-server event of the protocol is acknowledged `{"ok": true, "data"}`
or `{"ok": false, "error"}`: `emit` answers that raw reply, `call` its `data` or raises the
error's exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
import socketio

from xietong_sdk.errors import NotConnected, Timeout, XietongError, error_from
from xietong_sdk.events import Emitter, log

DEFAULT_TIMEOUT = 10.0
H = TypeVar("H", bound=Callable[..., Any])
DisconnectHandler = Callable[[str], None]


class Connection:
    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("*", self._on_push)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_connect_error)
        self.url: str | None = None
        self._pushes = Emitter()
        self._disconnect_handlers: list[DisconnectHandler] = []
        self._pending: set[asyncio.Future[Any]] = set()
        self._refusal: Any = None
        self._http: aiohttp.ClientSession | None = None

    # state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected)

    @property
    def sid(self) -> str | None:
        """The socket's id on the server (`None` when not connected)."""
        sid = self.sio.get_sid() if self.connected else None
        return str(sid) if sid is not None else None

    # connecting --------------------------------------------------------------------------

    async def connect(self, url: str, auth: Mapping[str, Any], *,
                      transports: Sequence[str] = ("websocket",),
                      wait_timeout: float = DEFAULT_TIMEOUT) -> None:
        """Connect with `auth` (`{"token", "client"}`). A refusal raises its error
        (`Unauthorized`); a server that cannot be reached raises `NotConnected`."""
        if self.connected:
            raise NotConnected("already connected; disconnect first")
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        self.sio.eio.http = self._http
        self.sio.eio.external_http = True
        self._refusal = None
        self.url = url
        try:
            await self.sio.connect(url, auth=dict(auth), transports=list(transports),
                                   wait_timeout=wait_timeout)
        except socketio.exceptions.ConnectionError as exc:
            if self._refusal is not None:
                raise error_from(self._refusal) from exc
            raise NotConnected(f"cannot connect to {url}: {exc}") from exc

    def _on_connect_error(self, data: Any = None, *_: Any) -> None:
        # The server refuses with {"message": "unauthorized", "data": {"code", "message"}}.
        if isinstance(data, Mapping) and isinstance(data.get("data"), Mapping):
            data = data["data"]
        if isinstance(data, Mapping) and "code" in data:
            self._refusal = dict(data)
        else:
            self._refusal = {"code": "unauthorized", "message": str(data or "refused")}

    async def disconnect(self) -> None:
        """Close the socket (a no-op when it is not connected)."""
        with contextlib.suppress(Exception):
            await self.sio.disconnect()

    async def close(self) -> None:
        """Disconnect and release everything (handlers still running are stopped)."""
        await self.disconnect()
        await self._pushes.close()
        if self._http is not None and not self._http.closed:
            await self._http.close()

    def _on_disconnect(self, reason: Any = None, *_: Any) -> None:
        error = NotConnected("the connection dropped before the answer came")
        for future in list(self._pending):
            if not future.done():
                future.set_exception(error)
        for handler in list(self._disconnect_handlers):
            try:
                handler(str(reason or ""))
            except Exception:
                log.exception("a disconnect handler failed")

    # calls -------------------------------------------------------------------------------

    async def emit(self, event: str, data: Any = None,
                   seconds: float | None = None) -> dict[str, Any]:
        """Send `event` and answer its acknowledgement as it came: `{"ok", "data"|"error"}`.
        Raises `Timeout` when none comes in time, `NotConnected` when the socket is not
        connected or drops first."""
        if not self.connected:
            raise NotConnected(f"not connected (sending {event})")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def acknowledge(*args: Any) -> None:
            if not future.done():
                future.set_result(args[0] if args else None)

        self._pending.add(future)
        try:
            try:
                await self.sio.emit(event, data, callback=acknowledge)
            except socketio.exceptions.SocketIOError as exc:
                raise NotConnected(f"not connected (sending {event}): {exc}") from exc
            try:
                async with asyncio.timeout(self.timeout if seconds is None else seconds):
                    reply = await future
            except TimeoutError:
                raise Timeout(f"no answer to {event} in time") from None
        finally:
            self._pending.discard(future)
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            raise XietongError(f"{event} answered something that is not a reply: {reply!r}"[:500])
        return reply

    async def call(self, event: str, data: Any = None, seconds: float | None = None) -> Any:
        """`data` of the reply, or its error raised as its exception (`Forbidden`, ...)."""
        reply = await self.emit(event, data, seconds)
        if reply["ok"]:
            return reply.get("data")
        raise error_from(reply.get("error"))

    # pushes ------------------------------------------------------------------------------

    def on(self, event: str, handler: H) -> H:
        """Call `handler(data)` for each push `event` (plain or `async`)."""
        return self._pushes.on(event, handler)

    def on_any(self, handler: H) -> H:
        """Call `handler(event, data)` for every push."""
        return self._pushes.on_any(handler)

    def off(self, event: str | None, handler: Callable[..., Any]) -> None:
        self._pushes.off(event, handler)

    def on_disconnect(self, handler: DisconnectHandler) -> None:
        """Call `handler(reason)` (plain) each time the socket goes, whoever closed it."""
        self._disconnect_handlers.append(handler)

    def _on_push(self, event: str, data: Any = None, *_: Any) -> None:
        # Plain on purpose: each push is handled in a task of its own, and a handler without
        # an await runs to the end before the next push's task starts, in arrival order.
        self._pushes.emit(event, data)
