"""Health, metrics and the web client's pages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from signaling.errors import json_response
from signaling.metrics import Metrics

WEB_ROOT = Path(__file__).resolve().parents[2] / "clients" / "web"
_CHECK_SECONDS = 2.0

Check = Callable[[], Awaitable[object]]


class OpsRoutes:
    def __init__(self, node_id: str, checks: dict[str, Check], metrics: Metrics) -> None:
        self._node_id = node_id
        self._checks = checks
        self._metrics = metrics

    def register(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/", self.index)
        app.router.add_get("/meetings/{meeting_id}", self.meeting_page)
        app.router.add_static("/static/", WEB_ROOT, show_index=False)

    async def _probe(self, check: Check) -> str:
        try:
            async with asyncio.timeout(_CHECK_SECONDS):
                await check()
        except Exception as exc:
            return f"error: {type(exc).__name__}: {exc}"[:300]
        return "ok"

    async def healthz(self, request: web.Request) -> web.Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._probe(self._checks[n]) for n in names))
        body: dict[str, str] = dict(zip(names, results, strict=True))
        failing = [n for n, r in body.items() if r != "ok"]
        status = "ok" if not failing else "unavailable"
        payload: dict[str, object] = {"status": status, **body, "node_id": self._node_id}
        if failing:
            payload["error"] = {"code": "unavailable",
                                "message": f"{', '.join(failing)} unavailable"}
        return json_response(payload, 200 if not failing else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_ROOT / "index.html")

    async def meeting_page(self, request: web.Request) -> web.FileResponse:
        # The page joins by the id in its own address; a bad id is refused by meeting:join.
        return web.FileResponse(WEB_ROOT / "meeting.html")
