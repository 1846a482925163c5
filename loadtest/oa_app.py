"""An OA application as a load test plays it: registered by an admin, sending signed cards to
`POST /api/v1/cards`, and hearing about acts on them at a callback receiver on loopback.

The receiver answers 200 at once, so the server's callbacks never fall into retries that
would add work to what is measured."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from cards.integration.signing import APP_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from loadtest.servers import bearer, request_json


@dataclass(frozen=True)
class OaApp:
    base_url: str
    app_id: str
    secret: str

    @classmethod
    async def register(cls, session: aiohttp.ClientSession, base_url: str, admin_token: str,
                       name: str, callback_url: str) -> OaApp:
        answer = await request_json(session, "POST", f"{base_url}/api/v1/apps", expect=201,
                                    json={"name": name, "callback_url": callback_url},
                                    headers=bearer(admin_token))
        return cls(base_url, str(answer["app_id"]), str(answer["secret"]))

    async def send_card(self, session: aiohttp.ClientSession, card: dict[str, Any],
                        seconds: float) -> dict[str, Any]:
        """`POST /api/v1/cards`, signed: `{"card_id", "holders"}`."""
        body = json.dumps(card, ensure_ascii=False).encode()
        timestamp = int(time.time())
        headers = {APP_HEADER: self.app_id, TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: signature(self.secret, timestamp, body),
                   "Content-Type": "application/json"}
        answer: dict[str, Any] = await request_json(
            session, "POST", f"{self.base_url}/api/v1/cards", expect=201, seconds=seconds,
            data=body, headers=headers)
        return answer


class CallbackReceiver:
    """An HTTP server on 127.0.0.1 that answers every POST with 200 and keeps, per card id
    the body names, when (`perf_counter_ns`) the first callback about it came."""

    def __init__(self) -> None:
        self.port = 0
        self.received = 0
        self.first: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._on_post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Bound here, not by port number, so no other process can take the port meanwhile.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, card_id: str, seconds: float) -> int | None:
        """When the first callback about `card_id` came; None if none within `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                while card_id not in self.first:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            return None
        return self.first[card_id]

    async def _on_post(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter_ns()
        body = await request.read()
        self.received += 1
        try:
            card_id = json.loads(body).get("card_id")
        except (ValueError, AttributeError):
            card_id = None
        if isinstance(card_id, str):
            self.first.setdefault(card_id, arrived)
            self._arrived.set()
        return web.json_response({"ok": True})
