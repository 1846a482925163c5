"""Delivery to many local sockets: frames built once, written directly or queued, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiohttp._websocket.writer import WebSocketWriter

from signaling.app import Node
from signaling.websocket import text_frame
from tests.chat_helpers import group
from tests.conftest import Api, Client, Connect


class _Captured(asyncio.Transport):
    """A transport that keeps what is written, so aiohttp's own writer can be the oracle."""

    def __init__(self) -> None:
        super().__init__()
        self.data = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += bytes(data)

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536, 200_000])
async def test_a_prebuilt_frame_is_byte_for_byte_what_aiohttp_would_send(length: int) -> None:
    text = "协" * (length // 3) + "x" * (length % 3)
    transport = _Captured()
    writer = WebSocketWriter(None, transport)  # type: ignore[arg-type]
    await writer.send_frame(text.encode(), 0x1)
    assert text_frame(text) == transport.data


async def test_pushes_arrive_complete_and_in_order_on_both_transports(
        connect: Connect, clients: Callable[[str], Client], node: Node, api: Api) -> None:
    sender, on_ws = await connect("staff01"), await connect("staff02")
    on_polling = clients(node.url)
    await on_polling.connect(await api.token("staff03"), transports=["polling"])
    conv_id = await group(sender, ["staff02", "staff03"])
    texts = [f"{n:03d} " + "长" * (n * 40) for n in range(60)]  # frames from 4 B to 7 KB
    for text in texts:
        await sender.ok("msg:send", {"conv_id": conv_id, "client_msg_id": text[:3],
                                     "text": text})
    for receiver in (on_ws, on_polling, sender):
        await receiver.wait_for("msg:new", lambda d: d["message"]["text"] == texts[-1])
        got = [d["message"]["text"] for d in receiver.received("msg:new")
               if d["message"]["type"] == "text"]
        assert got == texts
    await node.close()  # a polling client otherwise waits out its long poll on disconnect
