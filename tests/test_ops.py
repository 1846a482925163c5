"""Operations: health, metrics, boot-time configuration errors, SIGTERM draining, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.config import Config, ConfigError, load_config
from core.embedded import start_redis
from core.process import free_loopback_port
from signaling.app import build_node
from tests.conftest import SHARED, Api, Client

ROOT = Path(__file__).resolve().parents[1]


async def test_healthz_reports_both_backends_and_the_node(api: Api, node) -> None:  # type: ignore[no-untyped-def]
    status, body = await api.call("GET", "/healthz")
    assert status == 200
    assert body == {"status": "ok", "redis": "ok", "mongo": "ok", "node_id": node.config.node_id}


async def test_healthz_names_a_stopped_redis(config: Config, tmp_path: Path, http) -> None:  # type: ignore[no-untyped-def]
    own_redis = await start_redis(tmp_path)
    node = await build_node(replace(config, redis_url=own_redis.url))
    try:
        await node.serve()
        api = Api(node.url, http)
        own_redis.kill()
        status, body = await api.call("GET", "/healthz")
        assert status == 503
        assert body["status"] == "unavailable" and body["mongo"] == "ok"
        assert body["redis"].startswith("error")
        assert body["error"] == {"code": "unavailable", "message": "redis unavailable"}
    finally:
        await node.close()
        await own_redis.stop()


async def test_metrics_count_events_by_name_and_outcome(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    client: Client = clients(node.url)
    await client.connect(await api.token("staff01"))
    await client.ok("ping")
    await client.call("presence:subscribe", {"user_ids": "x"})
    status, text = await api.call("GET", "/metrics")
    assert status == 200
    assert 'xietong_socket_events_total{event="ping",outcome="ok"} 1.0' in text
    assert ('xietong_socket_events_total{event="presence:subscribe",outcome="bad_request"} 1.0'
            in text)
    assert "xietong_connected_sockets 1.0" in text
    assert 'xietong_handler_seconds_bucket{event="ping"' in text
    assert 'xietong_http_requests_total{route="/api/v1/auth/login",status="200"} 1.0' in text


@pytest.mark.parametrize("env,name", [
    ({"PORT": "eighty"}, "PORT"), ({"ORG_TZ": "Mars/Olympus"}, "ORG_TZ"),
    ({"PRESENCE_TTL": "-1"}, "PRESENCE_TTL"), ({"MONGO_URL": "postgres://x"}, "MONGO_URL"),
    ({"HOST": "0.0.0.0", "DEMO": "true"}, "DEMO"), ({"PASSWORD_HASH_N": "1000"}, "PASSWORD_HASH_N"),
])
def test_a_bad_setting_is_refused_by_name(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(env)


def test_demo_is_on_by_default_only_when_embedded_on_loopback() -> None:
    assert load_config({}).demo is True
    assert load_config({"HOST": "0.0.0.0"}).demo is False
    assert load_config({"REDIS_URL": "redis://r", "MONGO_URL": "mongodb://m"}).demo is False


async def test_the_server_refuses_to_boot_on_a_bad_setting() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling", cwd=ROOT, env={**os.environ, "PORT": "eighty"},
        stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "PORT='eighty'" in err.decode()


async def test_sigterm_drains_sockets_and_stops_the_embedded_children(tmp_path: Path,
                                                                      http) -> None:  # type: ignore[no-untyped-def]
    port = free_loopback_port()
    env = {**os.environ, "PORT": str(port), "DATA_DIR": str(tmp_path), "PASSWORD_HASH_N": "1024",
           "LOG_LEVEL": "WARNING"}
    for name in ("REDIS_URL", "MONGO_URL"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "signaling", cwd=ROOT,
                                                   env=env)
    url = f"http://127.0.0.1:{port}"
    api = Api(url, http)
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    if (await api.call("GET", "/healthz"))[0] == 200:
                        break
                except OSError:
                    pass
                await asyncio.sleep(0.1)
        client = Client(url)
        await client.connect(await api.token("staff01"))
        process.send_signal(signal.SIGTERM)
        assert await client.wait_for("server:draining") == {"retry_after_ms": 2000}
        await asyncio.wait_for(client.disconnected.wait(), 10)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        pids = [tmp_path / "redis" / "redis.pid", tmp_path / "mongo" / "nx-27017.pid"]
        for pid_file in pids:
            if pid_file.exists():
                pid = int(pid_file.read_text().strip() or 0)
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
        await client.close()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_import_command_loads_a_file_into_the_database(config: Config,
                                                                 tmp_path: Path) -> None:
    env = {**os.environ, "MONGO_URL": str(config.mongo_url), "MONGO_DB": config.mongo_db + "c",
           "PASSWORD_HASH_N": "1024"}
    source = SHARED / "data" / "org-large.json"
    for expected_created in (2285 + 456, 0):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "core.directory.cli", str(source), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0
        assert json.loads(out)["created"] == expected_created


async def test_a_send_while_redis_is_down_is_unavailable_not_internal(
        config: Config, tmp_path: Path, http, clients) -> None:  # type: ignore[no-untyped-def]
    own_redis = await start_redis(tmp_path)
    node = await build_node(replace(config, redis_url=own_redis.url))
    try:
        await node.serve()
        api = Api(node.url, http)
        client: Client = clients(node.url)
        await client.connect(await api.token("staff01"))
        conv = await client.ok("conv:create", {"type": "direct", "members": ["staff02"]})
        own_redis.kill()
        reply = await client.call("msg:send", {"conv_id": conv["conversation"]["id"],
                                               "client_msg_id": "x", "text": "hello?"})
        assert reply["ok"] is False and reply["error"]["code"] == "unavailable"
    finally:
        await node.close()
        await own_redis.stop()
