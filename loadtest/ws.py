"""A lean RFC 6455 websocket client on an `asyncio.Protocol`, for the load generator.

aiohttp's client wakes a reader task for every received frame; at tens of thousands of frames
a second that alone saturates a core. Here frames are parsed in `data_received` and handed to
a callback synchronously, with no task, future or message object per frame. It does what a
load generator needs and no more: plain `ws://` to loopback, no extensions (so no
permessage-deflate), text frames out (masked, as a client must), text and control frames in,
fragmented messages reassembled.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import struct
from collections.abc import Callable
from typing import cast

TextHandler = Callable[[str], None]
CloseHandler = Callable[[BaseException | None], None]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MAX_HEADER = 64 * 1024


class HandshakeError(Exception):
    """The server did not switch to the websocket protocol."""


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return payload
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    return header + key + _mask(payload, key)


def accept_key(key: str) -> str:
    digest = hashlib.sha1(key.encode() + _GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


class WebSocket(asyncio.Protocol):
    """One client websocket. `on_text` gets every text message; `on_close` is called once.
    Make it inside a running loop, then `await connect(...)`."""

    def __init__(self, on_text: TextHandler, on_close: CloseHandler | None = None) -> None:
        self.on_text = on_text
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._head = b""
        self._buffer = b""
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    async def connect(self, host: str, port: int, path: str) -> None:
        """Connect and complete the opening handshake (the caller bounds the time)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_connection(lambda: self, host, port)
        try:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode())
            await self._upgraded
        except BaseException:
            transport.abort()
            raise

    # asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._upgraded.done():
            self._upgraded.set_exception(exc or HandshakeError("connection closed"))
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._finish(exc)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    def data_received(self, data: bytes) -> None:
        if not self._upgraded.done():
            data = self._upgrade(data)
            if not data:
                return
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        pos, size = 0, len(data)
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(data[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
            key = b""
            if b1 & 0x80:  # servers must not mask, but a masked frame is still readable
                key, start = data[start : start + 4], start + 4
            end = start + length
            if end > size:
                break
            payload = data[start:end]
            pos = end
            if key:
                payload = _mask(payload, key)
            if b0 == 0x80 | _TEXT:
                self.on_text(payload.decode())
            else:
                self._frame(b0 & 0x80, b0 & 0x0F, payload)
            if self.closed:
                return
        if pos < size:
            self._buffer = data[pos:]

    # frames -------------------------------------------------------------------------------

    def _upgrade(self, data: bytes) -> bytes:
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            if len(head) > _MAX_HEADER:
                self._fail(HandshakeError("response header too long"))
            self._head = head
            return b""
        lines = head[:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            self._fail(HandshakeError(f"expected 101 Switching Protocols, got {lines[0]!r}"))
        elif headers.get("sec-websocket-accept") != accept_key(self._key):
            self._fail(HandshakeError("bad Sec-WebSocket-Accept"))
        elif headers.get("sec-websocket-extensions"):
            self._fail(HandshakeError("the server chose an extension that was not offered"))
        else:
            self._upgraded.set_result(None)
            return head[end + 4 :]
        return b""

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == _PING:
            self._write(_PONG, payload)
        elif opcode == _CLOSE:
            self._write(_CLOSE, payload[:2])
            self._close_transport()
        elif opcode in (_TEXT, _BINARY):
            self._fragment_opcode = opcode
            self._fragments = [payload]
        elif opcode == _CONT and self._fragments:
            self._fragments.append(payload)
            if fin:
                message = b"".join(self._fragments)
                self._fragments = []
                if self._fragment_opcode == _TEXT:
                    self.on_text(message.decode())
        # pongs, lone continuations, binary messages: nothing to do

    def _fail(self, exc: BaseException) -> None:
        if not self._upgraded.done():
            self._upgraded.set_exception(exc)
        self._close_transport()

    def _finish(self, exc: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self.on_close is not None:
            self.on_close(exc)

    def _close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._finish(None)

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the websocket is closed")
        self.transport.write(encode_frame(opcode, payload))

    # the API ------------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Queue one text message (without waiting; see `drain`)."""
        self._write(_TEXT, text.encode())

    async def drain(self) -> None:
        """Return once the transport's write buffer is below its high-water mark."""
        if self._paused and not self.closed:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def close(self, code: int = 1000) -> None:
        """Send a close frame and close the connection once it is flushed."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(_CLOSE, code.to_bytes(2, "big")))
        self._close_transport()
