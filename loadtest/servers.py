"""The servers a scenario can measure, each started by the load test as a child process.

A target knows how to start and stop its server, who the clients are (auth for each socket),
how a group of clients becomes a chat room, and the event that sends a text to it:

- `xietong`: the real server (`python -m signaling`) with embedded Redis and Mongo-wire, the
  large organisation imported, users logged in over REST, groups made with `conv:create`.
- `node`: the official Node socket.io server with default options (`reference/node/`).
- `python`: bare python-socketio + aiohttp + uvloop with default options
  (`reference/python_server.py`).

The two references speak the minimal protocol: `join {"room"}`, `msg:send {"room",
"client_msg_id", "text"}`, push `msg:new {"message"}` to the room, the sender included.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from xietong_sdk.rest import Rest

from core.process import free_loopback_port
from loadtest.procs import Child, spawn, wait_healthy
from loadtest.wire import SocketIOClient

PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE.parent
DEFAULT_ORG = REPO_ROOT.parent / "shared" / "data" / "org-large.json"
NODE_DIR = PACKAGE / "reference" / "node"
_START_ATTEMPTS = 3
_ADDRESS_IN_USE = "address already in use"


@dataclass(frozen=True)
class Identity:
    """Who one socket is: the user id the server will name as sender, and its connect auth."""

    user_id: str
    auth: dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """What targets need from the command line."""

    workdir: Path
    org: Path = DEFAULT_ORG
    login_concurrency: int = 20
    start_timeout: float = 60.0


async def request_json(session: aiohttp.ClientSession, method: str, url: str, *,
                       expect: int = 200, seconds: float = 30.0, **kwargs: Any) -> Any:
    """One REST call answered with JSON and the `expect`ed status within `seconds`, or
    RuntimeError naming what the server said instead."""
    async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=seconds),
                               **kwargs) as response:
        if response.status != expect:
            raise RuntimeError(f"{method} {url}: HTTP {response.status} "
                               f"{(await response.text())[:500]}")
        return await response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect_ok(answer: Any, what: str) -> dict[str, Any]:
    """The `data` of an `{"ok": true, "data": ...}` acknowledgement, or RuntimeError."""
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        raise RuntimeError(f"{what} failed: {answer!r}"[:500])
    data = answer.get("data")
    return data if isinstance(data, dict) else {}


class Target(ABC):
    name: ClassVar[str]
    #: Whether the sending socket gets its own `msg:new` (it counts as one delivery).
    echo_to_sender: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.child: Child | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.child is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.child.pid

    @property
    def log_file(self) -> Path:
        return self.settings.workdir / f"{self.name}.log"

    async def start(self, session: aiohttp.ClientSession) -> None:
        await self.prepare()
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = free_loopback_port()
            logged = self.log_file.stat().st_size if self.log_file.exists() else 0
            self.child = spawn(self.name, self.command(), cwd=self.cwd(),
                               log_file=self.log_file, env=self.environment())
            try:
                await wait_healthy(self.child, session, f"{self.base_url}/healthz",
                                   self.settings.start_timeout)
                return
            except RuntimeError:
                # The port was free when probed, but something else (on a busy machine, or
                # the server's own embedded databases, started before it binds) took it.
                if attempt == _START_ATTEMPTS or self.child.running() or \
                        _ADDRESS_IN_USE not in self.child.log_since(logged):
                    raise

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop()

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()

    async def close(self) -> None:
        """Stop the server; kill it if stopping fails or is interrupted, so no run leaves
        one behind."""
        try:
            await self.stop()
        except BaseException:
            self.kill()
            raise

    async def prepare(self) -> None:
        """Install what the server needs before it starts (default: nothing)."""
        return None

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def cwd(self) -> Path:
        return REPO_ROOT

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    async def identities(self, session: aiohttp.ClientSession, count: int) -> list[Identity]:
        """Auth for `count` sockets (distinct users where the server has enough)."""

    @abstractmethod
    async def form_group(self, index: int, members: Sequence[tuple[Identity, SocketIOClient]]
                         ) -> str:
        """Make the connected `members` one chat group; return what `send_event` names."""

    @abstractmethod
    def send_event(self, group: str, client_msg_id: str, text: str) -> tuple[str, dict[str, Any]]:
        """The event name and payload that send `text` to `group`."""


class ReferenceTarget(Target):
    async def identities(self, session: aiohttp.ClientSession, count: int) -> list[Identity]:
        return [Identity(f"c{i:05d}", {"user": f"c{i:05d}"}) for i in range(1, count + 1)]

    async def form_group(self, index: int, members: Sequence[tuple[Identity, SocketIOClient]]
                         ) -> str:
        room = f"g{index}"
        answers = await asyncio.gather(*(client.call("join", {"room": room})
                                         for _, client in members))
        for answer in answers:
            expect_ok(answer, f"join {room}")
        return room

    def send_event(self, group: str, client_msg_id: str, text: str) -> tuple[str, dict[str, Any]]:
        return "msg:send", {"room": group, "client_msg_id": client_msg_id, "text": text}


class NodeTarget(ReferenceTarget):
    name = "node"

    async def prepare(self) -> None:
        if (NODE_DIR / "node_modules" / "socket.io" / "package.json").exists():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed (the node reference server needs it)")
        process = await asyncio.create_subprocess_exec(
            npm, "install", "--no-audit", "--no-fund", cwd=NODE_DIR,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            async with asyncio.timeout(300):
                output, _ = await process.communicate()
        except BaseException:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if process.returncode != 0:
            raise RuntimeError(f"npm install failed in {NODE_DIR}:\n{output.decode()[-2000:]}")

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        return [node, "server.js", str(self.port)]

    def cwd(self) -> Path:
        return NODE_DIR


class PythonTarget(ReferenceTarget):
    name = "python"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "loadtest.reference.python_server", str(self.port)]


class XietongTarget(Target):
    name = "xietong"
    admin = ("admin", "demo")
    password = "demo"  # noqa: S105 - the demo organisation's published password

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.usernames: list[str] = []
        self.imported: dict[str, Any] = {}
        #: The imported organisation file as parsed (`departments`, `users`).
        self.org: dict[str, Any] = {}

    def command(self) -> list[str]:
        return [sys.executable, "-m", "signaling"]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MONGO_URL")}
        data_dir = self.settings.workdir / "xietong-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        env.update({
            "HOST": "127.0.0.1", "PORT": str(self.port), "DATA_DIR": str(data_dir),
            "DEMO": "true", "PASSWORD_HASH_N": "1024", "LOGIN_MAX_PER_ADDRESS": "1000000",
            "LOGIN_MAX_PER_USER": "1000000", "SEND_RATE_MAX": "1000000", "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1", "MEDIA_HOST_ADDRESSES": "127.0.0.1"})
        return env

    async def start(self, session: aiohttp.ClientSession) -> None:
        await super().start(session)
        token = await self.admin_token(session)
        body = self.settings.org.read_bytes()
        self.imported = await self.rest(session, token).request(
            "POST", "/api/v1/directory/import", raw=body, content_type="application/json",
            seconds=300)
        self.org = json.loads(body)
        # u00001, u00002, ... in the order of the organisation file.
        self.usernames = [str(user["username"]) for user in self.org.get("users", [])
                          if not user.get("disabled")]

    async def admin_token(self, session: aiohttp.ClientSession) -> str:
        data = await self.login(session, *self.admin)
        return str(data["token"])

    def rest(self, session: aiohttp.ClientSession, token: str | None = None) -> Rest:
        """The SDK's REST client on this server, over `session`, as `token`'s user."""
        return Rest(self.base_url, session=session, token=token)

    async def login(self, session: aiohttp.ClientSession, username: str,
                    password: str) -> dict[str, Any]:
        """The login answer: `{"token", "refresh_token", "expires_at", "user"}`."""
        return dict(await self.rest(session).login(username, password))

    async def login_many(self, session: aiohttp.ClientSession,
                         usernames: Sequence[str]) -> list[Identity]:
        """Socket auth for each of `usernames` (with their password), in that order."""
        gate = asyncio.Semaphore(self.settings.login_concurrency)

        async def login(username: str) -> Identity:
            async with gate:
                data = await self.login(session, username, self.password)
            return Identity(str(data["user"]["id"]), {"token": data["token"]})

        return list(await asyncio.gather(*(login(u) for u in usernames)))

    async def identities(self, session: aiohttp.ClientSession, count: int) -> list[Identity]:
        logged_in = await self.login_many(session, self.usernames[:count])
        # More sockets than users: the same users again, as second devices.
        return [logged_in[i % len(logged_in)] for i in range(count)] if logged_in else []

    async def form_group(self, index: int, members: Sequence[tuple[Identity, SocketIOClient]]
                         ) -> str:
        creator = members[0][1]
        answer = await creator.call("conv:create", {
            "type": "group", "members": [identity.user_id for identity, _ in members],
            "title": f"load g{index}"})
        conversation = expect_ok(answer, f"conv:create load g{index}").get("conversation")
        if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str):
            raise RuntimeError(f"conv:create answered no conversation id: {answer!r}"[:500])
        conv_id: str = conversation["id"]
        return conv_id

    def send_event(self, group: str, client_msg_id: str, text: str) -> tuple[str, dict[str, Any]]:
        return "msg:send", {"conv_id": group, "client_msg_id": client_msg_id, "type": "text",
                            "text": text}


TARGETS: dict[str, type[Target]] = {
    target.name: target for target in (XietongTarget, NodeTarget, PythonTarget)
}
