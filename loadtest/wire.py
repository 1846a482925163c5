"""A minimal Socket.IO 5 / Engine.IO 4 client for the load generator, on `ws.WebSocket`.

python-socketio's AsyncClient costs too much per socket and per packet to drive a thousand
sockets from one process, so this client does only what a load test needs: the websocket
transport (no polling, no upgrade, no permessage-deflate), the default namespace, JSON events
with acknowledgements, and answering the server's ping. Everything after the handshake runs
synchronously in the websocket's `data_received`: pushes are handed to a callback as the raw
packet text (`42["event",data]`), so a scenario can pick what it needs out of a hot packet
without decoding all of it (`parse_event` decodes one fully), and acks go to a callback too.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from loadtest.ws import HandshakeError, WebSocket

PushHandler = Callable[[str], None]
AckHandler = Callable[[Any], None]

#: What an acknowledgement handler receives when the socket closed before the answer came.
ACK_LOST: Any = object()

_PATH = "/socket.io/?EIO=4&transport=websocket"


class WireError(Exception):
    """The Engine.IO / Socket.IO handshake failed, or the socket is not connected."""


class ConnectRefused(WireError):
    """The server answered the Socket.IO connect with an error packet (`44{...}`)."""

    def __init__(self, data: Any) -> None:
        super().__init__(f"connect refused: {data!r}")
        self.data = data


def encode_event(event: str, data: Any, ack_id: int | None = None) -> str:
    """The Engine.IO message carrying one Socket.IO event of the default namespace."""
    body = json.dumps([event, data], separators=(",", ":"), ensure_ascii=False)
    return f"42{body}" if ack_id is None else f"42{ack_id}{body}"


def parse_event(packet: str) -> tuple[str, Any]:
    """`42["name",data]` (an ack id may stand before the `[`) -> (name, data)."""
    args = json.loads(packet[packet.index("[") :])
    return args[0], (args[1] if len(args) > 1 else None)


class SocketIOClient:
    """One Socket.IO connection. Every method runs on the loop that connected it."""

    def __init__(self, base_url: str, auth: dict[str, Any] | None = None,
                 on_push: PushHandler | None = None, connect_timeout: float = 10.0,
                 call_timeout: float = 10.0) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"an http:// base URL is needed, not {base_url!r}")
        self._host, self._port = url.hostname, url.port or 80
        self._auth = auth
        self.on_push = on_push
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.sid: str | None = None
        self.ping_interval = 25.0
        self._ws: WebSocket | None = None
        self._joined: asyncio.Future[None] | None = None
        self._in_namespace = False
        self._acks: dict[int, AckHandler] = {}
        self._next_ack = 0
        self.closed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._in_namespace and not self.closed.is_set()

    async def connect(self) -> None:
        """Open the websocket and join the default namespace; raise `ConnectRefused` on `44`.

        Bounded by `connect_timeout`. A failed connect leaves the client as it was, so it may
        be tried again.
        """
        if self._ws is not None:
            raise WireError("connect() called twice")
        self._joined = asyncio.get_running_loop().create_future()
        self.closed.clear()
        try:
            async with asyncio.timeout(self.connect_timeout):
                self._ws = WebSocket(self._on_opening, self._on_close)
                await self._ws.connect(self._host, self._port, _PATH)
                await self._joined
        except BaseException:
            ws, self._ws = self._ws, None
            if ws is not None:
                ws.on_close = None
                ws.close()
            if not self._joined.done():
                self._joined.cancel()
            raise

    # receiving ----------------------------------------------------------------------------

    def _on_opening(self, packet: str) -> None:
        """Engine.IO open, then the Socket.IO connect answer; then hand over to `_on_packet`."""
        assert self._joined is not None and self._ws is not None
        if packet.startswith("0"):
            self.ping_interval = json.loads(packet[1:]).get("pingInterval", 25000) / 1000
            auth = "" if self._auth is None else json.dumps(self._auth, separators=(",", ":"))
            self._ws.send_text("40" + auth)
        elif packet == "2":
            self._ws.send_text("3")
        elif packet.startswith("40"):
            self.sid = json.loads(packet[2:]).get("sid") if len(packet) > 2 else None
            self._ws.on_text = self._on_packet
            self._in_namespace = True
            if not self._joined.done():
                self._joined.set_result(None)
        elif packet.startswith("44"):
            if not self._joined.done():
                self._joined.set_exception(
                    ConnectRefused(json.loads(packet[2:]) if len(packet) > 2 else None))
        elif packet.startswith("1") or packet.startswith("41"):
            if not self._joined.done():
                self._joined.set_exception(WireError("closed by the server in the handshake"))

    def _on_packet(self, packet: str) -> None:
        if packet[:2] == "42":
            if self.on_push is not None:
                self.on_push(packet)
        elif packet[:2] == "43":
            start = packet.index("[")
            handler = self._acks.pop(int(packet[2:start]), None)
            if handler is not None:
                args = json.loads(packet[start:])
                handler(args[0] if args else None)
        elif packet == "2":
            self._send("3")
        elif packet[:2] == "41" or packet[:1] == "1":
            self._shutdown()

    def _on_close(self, exc: BaseException | None) -> None:
        if self._joined is not None and not self._joined.done():
            self._joined.set_exception(
                WireError(f"connection closed in the handshake: {exc!r}"))
        self._lost()

    def _lost(self) -> None:
        self._in_namespace = False
        self.closed.set()
        acks, self._acks = self._acks, {}
        for handler in acks.values():
            handler(ACK_LOST)

    # sending ------------------------------------------------------------------------------

    def _send(self, text: str) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise WireError("not connected")
        ws.send_text(text)

    async def emit(self, event: str, data: Any, on_ack: AckHandler | None = None) -> None:
        """Send one event; `on_ack` gets the first acknowledgement argument (or `ACK_LOST`).

        Waits only when the socket's write buffer is full."""
        if not self.connected:
            raise WireError("not connected")
        ack_id = None
        if on_ack is not None:
            ack_id = self._next_ack
            self._next_ack += 1
            self._acks[ack_id] = on_ack
        try:
            self._send(encode_event(event, data, ack_id))
        except BaseException:
            if ack_id is not None:
                self._acks.pop(ack_id, None)
            raise
        assert self._ws is not None
        await self._ws.drain()

    async def call(self, event: str, data: Any) -> Any:
        """Send one event and return its acknowledgement (within `call_timeout`)."""
        answer, _ = await self.call_timed(event, data)
        return answer

    async def call_timed(self, event: str, data: Any) -> tuple[Any, int]:
        """`call`, also returning the `perf_counter_ns` at which the acknowledgement arrived
        (not when the caller resumed, which may be later on a busy loop)."""
        answer: asyncio.Future[tuple[Any, int]] = asyncio.get_running_loop().create_future()

        def on_ack(value: Any) -> None:
            if answer.done():
                return
            if value is ACK_LOST:
                answer.set_exception(WireError(f"{event}: the socket closed before the ack"))
            else:
                answer.set_result((value, time.perf_counter_ns()))

        await self.emit(event, data, on_ack)
        async with asyncio.timeout(self.call_timeout):
            return await answer

    async def close(self) -> None:
        """Leave the namespace and close the websocket (without waiting for the server)."""
        self._shutdown()

    def _shutdown(self) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            if self._in_namespace:
                ws.send_text("41")
            ws.close()
        self._lost()


async def connect_with_retry(client: SocketIOClient, attempts: int = 5,
                             backoff: float = 0.2) -> None:
    """Connect, retrying transport failures with jittered exponential backoff.

    A refused connect (`44`) is an answer, not a transport failure, and is raised at once.
    """
    for attempt in range(attempts):
        try:
            await client.connect()
            return
        except ConnectRefused:
            raise
        except (OSError, TimeoutError, WireError, HandshakeError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(backoff * 2**attempt * (0.5 + random.random()))  # noqa: S311


async def connect_many(clients: Sequence[SocketIOClient], concurrency: int = 50,
                       attempts: int = 5) -> None:
    """Connect every client with at most `concurrency` handshakes in flight; on the first
    failure cancel the rest and raise it."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(client: SocketIOClient) -> None:
        async with gate:
            await connect_with_retry(client, attempts=attempts)

    async with asyncio.TaskGroup() as group:
        for client in clients:
            group.create_task(one(client))


async def close_many(clients: Iterable[SocketIOClient]) -> None:
    for client in clients:
        await client.close()
    await asyncio.sleep(0)  # let the transports flush and close
