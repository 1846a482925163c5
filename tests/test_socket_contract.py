"""The Socket.IO contract of PROTOCOL §0-§1: connect refusal, acks, bad input, token expiry,
revocation on every node, draining."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import socketio

from core.clock import FakeClock
from tests.conftest import Api, Client, NodeFactory

JS_DIR = Path(__file__).parent / "js"


async def run_js_probe(url: str, token: str, event: str | None = None,
                       payload: Any = None) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is required for the socket.io-client contract tests"
    args = [str(JS_DIR / "probe.mjs"), url, token]
    if event:
        args += [event, json.dumps(payload)]
    process = await asyncio.create_subprocess_exec(node, *args, cwd=JS_DIR,
                                                   stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


async def run_js_chat(url: str, token: str, conv_id: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node", str(JS_DIR / "chat.mjs"), url, token, conv_id,
        cwd=JS_DIR, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


async def test_the_official_js_client_is_refused_without_a_valid_token(node, api: Api) -> None:  # type: ignore[no-untyped-def]
    for token in ("-", "forged.token.value"):
        result = await run_js_probe(node.url, token)
        assert result["outcome"] == "connect_error"
        assert result["data"]["code"] == "unauthorized"


async def test_the_official_js_client_connects_and_gets_acks(node, api: Api) -> None:  # type: ignore[no-untyped-def]
    token = await api.token("staff01")
    result = await run_js_probe(node.url, token, "presence:subscribe", {"user_ids": ["staff01"]})
    assert result["outcome"] == "connected"
    assert result["reply"] == {"ok": True, "data": {"presence": {
        "staff01": {"status": "online", "devices": ["web"]}}}}
    bad = await run_js_probe(node.url, token, "presence:subscribe", {"user_ids": "staff01"})
    assert bad["reply"]["ok"] is False and bad["reply"]["error"]["code"] == "bad_request"


async def test_python_client_connect_is_refused_for_a_revoked_token(node, api: Api,  # type: ignore[no-untyped-def]
                                                                    clients) -> None:
    token = await api.token("staff01")
    admin = await api.token("admin")
    await api.call("POST", "/api/v1/admin/users/staff01/revoke", token=admin)
    client: Client = clients(node.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(token)


@pytest.mark.parametrize("payload,field", [
    ({"user_ids": "staff01"}, "user_ids"),
    ({"user_ids": [1, 2]}, "user_ids.0"),
    ({"user_ids": [], "extra": 1}, "extra"),
    ("not an object", "payload"),
    (None, "user_ids"),
])
async def test_bad_payloads_get_bad_request_and_keep_the_socket(node, api: Api, clients,  # type: ignore[no-untyped-def]
                                                                payload: Any, field: str) -> None:
    client: Client = clients(node.url)
    await client.connect(await api.token("staff01"))
    reply = await client.call("presence:subscribe", payload)
    assert reply["ok"] is False
    assert reply["error"]["code"] == "bad_request"
    assert field in reply["error"]["message"]
    assert (await client.ok("ping"))["ts"].endswith("Z")


async def test_an_unknown_event_is_a_bad_request(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    client: Client = clients(node.url)
    await client.connect(await api.token("staff01"))
    reply = await client.call("no:such:event", {})
    assert reply == {"ok": False, "error": {"code": "bad_request",
                                            "message": "unknown event 'no:such:event'"}}
    assert client.sio.connected


async def test_both_transports_work(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    client: Client = clients(node.url)
    await client.connect(await api.token("staff01"), transports=["polling"])
    assert (await client.ok("ping"))["ts"]
    # A polling client's own disconnect waits out a long-poll; the server's drain is prompt.
    await node.close()
    await asyncio.wait_for(client.disconnected.wait(), 10)


async def test_expiring_token_is_announced_and_renewal_keeps_the_socket(
        start_node: NodeFactory, http, clients, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(clock=fake_clock, access_token_ttl=3600)
    api = Api(node.url, http)
    client: Client = clients(node.url)
    await client.connect(await api.token("staff01"))
    await fake_clock.advance(3600 - 301)
    await node.gateway.check_expiry()
    assert client.received("auth:expiring") == []
    await fake_clock.advance(2)
    warning = await client.wait_for("auth:expiring")
    assert warning["expires_at"].endswith("Z")
    renewed = await client.ok("auth:renew", {"token": await api.token("staff01")})
    assert renewed["expires_at"] > warning["expires_at"]
    await fake_clock.advance(400)  # past the first token's expiry
    await node.gateway.check_expiry()
    assert client.sio.connected and client.received("auth:expired") == []


async def test_a_socket_whose_token_expires_is_told_and_disconnected(
        start_node: NodeFactory, http, clients, fake_clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(clock=fake_clock, access_token_ttl=600)
    client: Client = clients(node.url)
    await client.connect(await Api(node.url, http).token("staff01"))
    await fake_clock.advance(601)
    await node.gateway.check_expiry()
    await client.wait_for("auth:expired")
    await asyncio.wait_for(client.disconnected.wait(), 10)


async def test_renewing_with_another_users_token_is_forbidden(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    client: Client = clients(node.url)
    await client.connect(await api.token("staff01"))
    reply = await client.call("auth:renew", {"token": await api.token("staff02")})
    assert reply["error"]["code"] == "forbidden"


async def test_revocation_disconnects_the_users_sockets_on_every_node(
        start_node: NodeFactory, http, clients) -> None:  # type: ignore[no-untyped-def]
    a = await start_node(node_id="node-a")
    b = await start_node(node_id="node-b")
    api_a = Api(a.url, http)
    on_a: Client = clients(a.url)
    on_b: Client = clients(b.url)
    bystander: Client = clients(b.url)
    await on_a.connect(await api_a.token("staff01"))
    await on_b.connect(await api_a.token("staff01"))
    await bystander.connect(await api_a.token("staff02"))
    admin = await api_a.token("admin")
    status, _ = await api_a.call("POST", "/api/v1/admin/users/staff01/revoke", token=admin)
    assert status == 200
    for client in (on_a, on_b):
        revoked = await client.wait_for("auth:revoked")
        assert revoked == {"reason": "revoked_by_admin"}
        await asyncio.wait_for(client.disconnected.wait(), 10)
    assert bystander.sio.connected


async def test_a_stopping_node_pushes_draining_before_closing(start_node: NodeFactory, http,  # type: ignore[no-untyped-def]
                                                              clients) -> None:
    node = await start_node()
    client: Client = clients(node.url)
    await client.connect(await Api(node.url, http).token("staff01"))
    await node.close()
    assert (await client.wait_for("server:draining")) == {"retry_after_ms": 2000}
    await asyncio.wait_for(client.disconnected.wait(), 10)


@pytest.mark.parametrize("enabled", [False, True])
async def test_websocket_compression_is_negotiated_only_when_configured(
        start_node, http, enabled: bool) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(ws_compression=enabled)
    url = f"{node.url}/socket.io/?EIO=4&transport=websocket"
    async with http.ws_connect(url, compress=15) as ws:
        opened = await ws.receive_str()
        assert opened.startswith("0{")
        assert bool(ws.compress) is enabled
