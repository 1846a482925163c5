"""Presence (PROTOCOL §2): devices across nodes, pushes on change only, dead nodes swept."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from core.clock import FakeClock
from core.config import Config
from core.presence.rules import Device, Status, compute_snapshot
from core.process import free_loopback_port
from tests.conftest import Api, Client, NodeFactory

ROOT = Path(__file__).resolve().parents[1]


def device(kind: str, active_at: float) -> Device:
    return Device(f"n:{kind}{active_at}", kind, 0.0, active_at)


async def watch(clients, url: str, api: Api, *user_ids: str) -> Client:  # type: ignore[no-untyped-def]
    """staff01, connected and subscribed to the presence of `user_ids`."""
    watcher: Client = clients(url)
    await watcher.connect(await api.token("staff01"))
    await watcher.ok("presence:subscribe", {"user_ids": list(user_ids)})
    return watcher


async def flush(watcher: Client, clients, url: str, api: Api) -> None:  # type: ignore[no-untyped-def]
    """Bring staff03 online and wait for that push: every earlier push has arrived by then."""
    await watcher.ok("presence:subscribe", {"user_ids": ["staff03"]})
    marker: Client = clients(url)
    await marker.connect(await api.token("staff03"))
    await watcher.wait_for("presence", lambda p: p["user_id"] == "staff03")


def test_a_user_with_no_device_is_offline() -> None:
    assert compute_snapshot([], False, 100.0, 600).status == Status.OFFLINE


def test_one_recently_active_device_makes_a_user_online() -> None:
    snapshot = compute_snapshot([device("web", 0), device("mobile", 500)], False, 1000.0, 600)
    assert snapshot.status == Status.ONLINE and snapshot.devices == ("mobile", "web")


def test_every_device_idle_past_the_limit_makes_a_user_away() -> None:
    assert compute_snapshot([device("web", 0)], False, 601.0, 600).status == Status.AWAY


def test_a_user_who_chose_away_is_away_even_while_active() -> None:
    assert compute_snapshot([device("web", 100)], True, 101.0, 600).status == Status.AWAY


async def test_watchers_see_a_user_come_online_and_go_offline(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    watcher: Client = clients(node.url)
    await watcher.connect(await api.token("staff01"))
    first = await watcher.ok("presence:subscribe", {"user_ids": ["staff02"]})
    assert first == {"presence": {"staff02": {"status": "offline", "devices": []}}}
    watched: Client = clients(node.url)
    await watched.connect(await api.token("staff02"), client="mobile")
    online = await watcher.wait_for("presence", lambda p: p["status"] == "online")
    assert online == {"user_id": "staff02", "status": "online", "devices": ["mobile"]}
    await watched.close()
    offline = await watcher.wait_for("presence", lambda p: p["status"] == "offline")
    assert offline == {"user_id": "staff02", "status": "offline", "devices": []}


async def test_a_second_device_of_the_same_kind_causes_no_push(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    watcher = await watch(clients, node.url, api, "staff02")
    token = await api.token("staff02")
    phone: Client = clients(node.url)
    await phone.connect(token)
    await watcher.wait_for("presence", lambda p: p["status"] == "online")
    second: Client = clients(node.url)
    await second.connect(token)
    await second.close()
    await flush(watcher, clients, node.url, api)
    assert [p for p in watcher.received("presence") if p["user_id"] == "staff02"] == [
        {"user_id": "staff02", "status": "online", "devices": ["web"]}]


async def test_a_reconnect_within_the_grace_causes_no_offline_push(
        start_node: NodeFactory, http, clients) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(presence_offline_grace=30.0)
    api = Api(node.url, http)
    watcher = await watch(clients, node.url, api, "staff02")
    token = await api.token("staff02")
    before: Client = clients(node.url)
    await before.connect(token)
    await watcher.wait_for("presence", lambda p: p["user_id"] == "staff02")
    await before.close()
    after: Client = clients(node.url)
    await after.connect(token)
    await node.services.presence.tick()
    await flush(watcher, clients, node.url, api)
    assert [p["status"] for p in watcher.received("presence")
            if p["user_id"] == "staff02"] == ["online"]


async def test_idle_devices_turn_a_user_away_and_activity_brings_them_back(
        start_node: NodeFactory, http, clients, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(clock=fake_clock, presence_idle_after=600)
    api = Api(node.url, http)
    watcher = await watch(clients, node.url, api, "staff02")
    idle: Client = clients(node.url)
    await idle.connect(await api.token("staff02"))
    await watcher.wait_for("presence", lambda p: p["status"] == "online")
    await fake_clock.advance(601)
    await node.services.presence.tick()
    await watcher.wait_for("presence", lambda p: p["status"] == "away")
    await idle.ok("ping")
    back = await watcher.wait_for("presence", lambda p: p["status"] == "online"
                                  and len(watcher.received("presence")) >= 3)
    assert back["user_id"] == "staff02"


async def test_presence_set_away_is_pushed_and_reported(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    watcher = await watch(clients, node.url, api, "staff02")
    user: Client = clients(node.url)
    await user.connect(await api.token("staff02"))
    assert (await user.ok("presence:set", {"status": "away"}))["status"] == "away"
    await watcher.wait_for("presence", lambda p: p["status"] == "away")
    reply = await user.call("presence:set", {"status": "offline"})
    assert reply["error"]["code"] == "bad_request"


async def test_a_user_on_node_b_is_seen_online_from_node_a(start_node: NodeFactory, http,  # type: ignore[no-untyped-def]
                                                          clients) -> None:
    a = await start_node(node_id="node-a")
    b = await start_node(node_id="node-b")
    api = Api(a.url, http)
    watcher = await watch(clients, a.url, api, "staff02")
    remote: Client = clients(b.url)
    await remote.connect(await api.token("staff02"))
    pushed = await watcher.wait_for("presence", lambda p: p["status"] == "online")
    assert pushed["user_id"] == "staff02"
    snapshot = await watcher.ok("presence:subscribe", {"user_ids": ["staff02"]})
    assert snapshot["presence"]["staff02"]["status"] == "online"


async def _start_node_process(config: Config, node_id: str) -> tuple[asyncio.subprocess.Process,
                                                                     str]:
    port = free_loopback_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "NODE_ID": node_id,
           "REDIS_URL": str(config.redis_url), "MONGO_URL": str(config.mongo_url),
           "MONGO_DB": config.mongo_db, "REDIS_PREFIX": config.redis_prefix,
           "SECRET_KEY": str(config.secret_key), "FIELD_KEY": str(config.field_key),
           "DEMO": "false",
           "PRESENCE_TTL": str(config.presence_ttl), "PRESENCE_OFFLINE_GRACE": "0",
           "DATA_DIR": str(config.data_dir), "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "signaling", env=env,
                                                   cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(30):
            while True:
                try:
                    async with session.get(url + "/healthz") as response:
                        if response.status == 200:
                            return process, url
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)


async def test_when_node_b_dies_its_users_go_offline_within_the_ttl(
        config: Config, start_node: NodeFactory, http, clients) -> None:  # type: ignore[no-untyped-def]
    a = await start_node(node_id="node-a")
    process, b_url = await _start_node_process(config, "node-b")
    try:
        api = Api(a.url, http)
        watcher: Client = clients(a.url)
        await watcher.connect(await api.token("staff01"))
        await watcher.ok("presence:subscribe", {"user_ids": ["staff02"]})
        remote: Client = clients(b_url)
        await remote.connect(await api.token("staff02"))
        await watcher.wait_for("presence", lambda p: p["status"] == "online")
        loop = asyncio.get_running_loop()
        process.send_signal(signal.SIGKILL)
        killed_at = loop.time()
        await watcher.wait_for("presence", lambda p: p["status"] == "offline",
                               timeout=config.presence_ttl * 3)
        assert loop.time() - killed_at <= config.presence_ttl
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
