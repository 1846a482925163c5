"""Reference video relay: aiortc's own MediaRelay, as aiortc's examples and most tutorials
build a "one to many" server. The publisher's track is decoded once, and each subscriber gets
it through `MediaRelay.subscribe`, encoded anew for that subscriber.

    python -m loadtest.reference.media_relay PORT

`POST /publish {"sdp"}` (an offer with one video track) and `POST /subscribe {"sdp"}` (an
offer with one recvonly video m-line) answer `{"sdp"}`; `GET /healthz`. ICE on 127.0.0.1 only
and no STUN server, like Xietong under test.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop
from aiohttp import web
from aiortc import MediaStreamTrack, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from media.aiortc_bridge import HostPinnedPeerConnection

LOOPBACK = ("127.0.0.1",)


class Relay:
    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.source: MediaStreamTrack | None = None
        self.published = asyncio.Event()
        self.peers: list[HostPinnedPeerConnection] = []

    async def _answer(self, pc: HostPinnedPeerConnection, request: web.Request,
                      track: MediaStreamTrack | None = None) -> web.Response:
        body: dict[str, Any] = await request.json()
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
        if track is not None:
            pc.addTrack(track)  # into the offer's recvonly m-line
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp})

    async def publish(self, request: web.Request) -> web.Response:
        pc = HostPinnedPeerConnection(LOOPBACK)
        self.peers.append(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self.source = track
                self.published.set()

        return await self._answer(pc, request)

    async def subscribe(self, request: web.Request) -> web.Response:
        await asyncio.wait_for(self.published.wait(), 10)
        assert self.source is not None
        pc = HostPinnedPeerConnection(LOOPBACK)
        self.peers.append(pc)
        return await self._answer(pc, request, self.relay.subscribe(self.source, buffered=False))

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def close(self, app: web.Application) -> None:
        await asyncio.gather(*(pc.close() for pc in self.peers), return_exceptions=True)


def main() -> None:
    relay = Relay()
    app = web.Application()
    app.router.add_post("/publish", relay.publish)
    app.router.add_post("/subscribe", relay.subscribe)
    app.router.add_get("/healthz", relay.healthz)
    app.on_shutdown.append(relay.close)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)


if __name__ == "__main__":
    main()
