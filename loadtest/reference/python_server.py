"""Reference chat server: bare python-socketio on aiohttp and uvloop, default options, the
minimal protocol of the load test, written as a newcomer to python-socketio would write it.

    python -m loadtest.reference.python_server PORT

Events: `join {"room"}` -> `{"ok": true, "data": {}}`; `msg:send {"room", "client_msg_id",
"text"}` emits `msg:new {"message"}` to the room and answers `{"ok": true, "data": {"message"}}`.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import socketio
import uvloop
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp")
app = web.Application()
sio.attach(app)
message_ids = itertools.count(1)


def bad(message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": "bad_request", "message": message}}


async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
    user = auth.get("user") if isinstance(auth, dict) else None
    await sio.save_session(sid, {"user": user if isinstance(user, str) else sid})


async def join(sid: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("room"), str):
        return bad("room")
    await sio.enter_room(sid, data["room"])
    return {"ok": True, "data": {}}


async def msg_send(sid: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("room"), str) \
            or not isinstance(data.get("text"), str):
        return bad("room, text")
    session = await sio.get_session(sid)
    message = {"id": str(next(message_ids)), "room": data["room"], "text": data["text"],
               "client_msg_id": data.get("client_msg_id"), "sender_id": session["user"]}
    await sio.emit("msg:new", {"message": message}, room=data["room"])
    return {"ok": True, "data": {"message": message}}


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


sio.on("connect", connect)
sio.on("join", join)
sio.on("msg:send", msg_send)
app.router.add_get("/healthz", healthz)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8090
    web.run_app(app, host="127.0.0.1", port=port, print=None, shutdown_timeout=5,
                loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
