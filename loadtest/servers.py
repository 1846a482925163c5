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

from core.process import free_loopback_port
from loadtest.procs import Child, spawn, wait_healthy
from loadtest.wire import SocketIOClient

PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE.parent
DEFAULT_ORG = REPO_ROOT.parent / "shared" / "data" / "org-large.json"
NODE_DIR = PACKAGE / "reference" / "node"


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
        self.port = free_loopback_port()
        self.child = spawn(self.name, self.command(), cwd=self.cwd(), log_file=self.log_file,
                           env=self.environment())
        await wait_healthy(self.child, session, f"{self.base_url}/healthz",
                           self.settings.start_timeout)

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop()

    def kill(self) -> None:
        if self.child is not None:
            self.child.kill()

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
            "PYTHONUNBUFFERED": "1"})
        return env

    async def start(self, session: aiohttp.ClientSession) -> None:
        await super().start(session)
        token = await self._login(session, *self.admin)
        body = self.settings.org.read_bytes()
        async with session.post(f"{self.base_url}/api/v1/directory/import", data=body,
                                headers={"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/json"},
                                timeout=aiohttp.ClientTimeout(total=300)) as response:
            if response.status != 200:
                raise RuntimeError(f"directory import: HTTP {response.status} "
                                   f"{(await response.text())[:500]}")
            self.imported = await response.json()
        # u00001, u00002, ... in the order of the organisation file.
        self.usernames = await asyncio.to_thread(_usernames, self.settings.org)

    async def _login(self, session: aiohttp.ClientSession, username: str,
                     password: str) -> str:
        data = await self._login_full(session, username, password)
        token: str = data["token"]
        return token

    async def _login_full(self, session: aiohttp.ClientSession, username: str,
                          password: str) -> dict[str, Any]:
        async with session.post(f"{self.base_url}/api/v1/auth/login",
                                json={"username": username, "password": password},
                                timeout=aiohttp.ClientTimeout(total=30)) as response:
            if response.status != 200:
                raise RuntimeError(f"login {username}: HTTP {response.status} "
                                   f"{(await response.text())[:300]}")
            data: dict[str, Any] = await response.json()
            return data

    async def identities(self, session: aiohttp.ClientSession, count: int) -> list[Identity]:
        distinct = self.usernames[:count]
        gate = asyncio.Semaphore(self.settings.login_concurrency)

        async def login(username: str) -> Identity:
            async with gate:
                data = await self._login_full(session, username, self.password)
            return Identity(str(data["user"]["id"]), {"token": data["token"]})

        logged_in = await asyncio.gather(*(login(u) for u in distinct))
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


def _usernames(org: Path) -> list[str]:
    document = json.loads(org.read_text())
    return [str(user["username"]) for user in document.get("users", [])
            if not user.get("disabled")]


TARGETS: dict[str, type[Target]] = {
    target.name: target for target in (XietongTarget, NodeTarget, PythonTarget)
}
