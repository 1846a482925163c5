"""Fixtures: one real Redis and one real MongoDB-wire server per test session, and for each
test a fresh key prefix and database, so tests never see each other's data."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from xietong_sdk.connection import Connection
from xietong_sdk.errors import XietongError

from core.clock import Clock, FakeClock
from core.config import Config
from core.embedded import ChildService, start_mongo, start_redis
from signaling.app import Node, build_node

SHARED = Path(__file__).resolve().parents[2] / "shared"
_counter = itertools.count()
# The deployment's key for sensitive fields in every test (32 bytes, base64).
FIELD_KEY = "eGlldG9uZy10ZXN0LWZpZWxkLWtleS0zMi1ieXRlcyE="


@dataclass
class Backends:
    redis: ChildService
    mongo: ChildService
    data_dir: Path


@pytest.fixture(scope="session")
async def backends(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Backends]:
    data_dir = tmp_path_factory.mktemp("backends")
    redis, mongo = await asyncio.gather(start_redis(data_dir), start_mongo(data_dir))
    yield Backends(redis, mongo, data_dir)
    await asyncio.gather(redis.stop(), mongo.stop())


def fresh_names() -> tuple[str, str]:
    n = f"{os.getpid()}_{next(_counter)}"
    return f"t{n}:", f"xt_test_{n}"


@pytest.fixture
def config(backends: Backends) -> Config:
    prefix, db_name = fresh_names()
    return Config(host="127.0.0.1", port=0, data_dir=backends.data_dir,
                  redis_url=backends.redis.url, mongo_url=backends.mongo.url, mongo_db=db_name,
                  redis_prefix=prefix, node_id=f"node-a-{db_name}", secret_key="s" * 32,
                  field_key=FIELD_KEY,
                  demo=True, password_hash_n=1024, presence_ttl=2.0,
                  presence_offline_grace=0.0, login_max_per_user=5, login_max_per_address=50,
                  send_rate_max=1000, media_host_addresses=("127.0.0.1",))


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def start_node(config: Config) -> AsyncIterator[NodeFactory]:
    """Start nodes of one deployment (same Redis, database and secret) on free ports."""
    nodes: list[Node] = []

    async def start(clock: Clock | None = None, **overrides: Any) -> Node:
        node_config = replace(config, **overrides)
        node = await build_node(node_config, clock)
        await node.serve()
        nodes.append(node)
        return node

    yield start
    for node in reversed(nodes):
        with contextlib.suppress(Exception):
            await node.close()


@pytest.fixture
def default_node(start_node: NodeFactory) -> Callable[[], Awaitable[Node]]:
    """The test's usual node, started on first use: a fake-clock test that never asks for
    it runs no real-clock node beside its own."""
    started: list[Node] = []

    async def get() -> Node:
        if not started:
            started.append(await start_node())
        return started[0]

    return get


@pytest.fixture
async def node(default_node: Callable[[], Awaitable[Node]]) -> Node:
    return await default_node()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


class Api:
    """A small REST client for tests."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session

    async def call(self, method: str, path: str, body: Any = None, token: str | None = None,
                   raw: bytes | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        async with self.session.request(method, self.base + path, data=data,
                                        headers=headers) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text) if text else None
            except json.JSONDecodeError:
                return response.status, text

    async def login(self, username: str, password: str = "demo") -> dict[str, Any]:
        status, body = await self.call("POST", "/api/v1/auth/login",
                                       {"username": username, "password": password})
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def token(self, username: str) -> str:
        return str((await self.login(username))["token"])


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(node: Node, http: aiohttp.ClientSession) -> Api:
    return Api(node.url, http)


class Client:
    """A Socket.IO client that records every push it receives: the SDK's transport
    (`xietong_sdk.Connection`), never reconnecting by itself."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection = Connection(timeout=10)
        self.pushes: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.connection.on_any(self._record)
        self.connection.on_disconnect(self._on_disconnect)

    @property
    def sio(self) -> socketio.AsyncClient:
        return self.connection.sio

    def _record(self, event: str, data: Any = None) -> None:
        self.pushes.append((event, data))
        self._changed.set()

    def _on_disconnect(self, _reason: str) -> None:
        self.disconnected.set()
        self._changed.set()

    async def connect(self, token: str, client: str = "web",
                      transports: list[str] | None = None) -> None:
        try:
            await self.connection.connect(self.url, {"token": token, "client": client},
                                          transports=transports or ["websocket"])
        except XietongError as exc:
            raise socketio.exceptions.ConnectionError(str(exc)) from exc

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        return await self.connection.emit(event, data)

    async def ok(self, event: str, data: Any = None) -> dict[str, Any]:
        reply = await self.call(event, data)
        assert reply["ok"] is True, reply
        return reply["data"]  # type: ignore[no-any-return]

    async def wait_for(self, event: str, predicate: Callable[[Any], bool] = lambda _: True,
                       timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for name, data in self.pushes:
                    if name == event and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.pushes if name == event]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.connection.close()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[str], Client]]:
    made: list[Client] = []

    def make(url: str) -> Client:
        client = Client(url)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(default_node: Callable[[], Awaitable[Node]], http: aiohttp.ClientSession,
                  clients: Callable[[str], Client]) -> Connect:
    """Log a demo user in and connect a socket for them, to node `on` (default: the `node`
    fixture, started only when asked for, so a fake-clock test runs no real-clock node)."""

    async def make(username: str, on: Node | None = None) -> Client:
        target = on or await default_node()
        client = clients(target.url)
        await client.connect(await Api(target.url, http).token(username))
        return client

    return make
