"""The Python SDK (clients/python/xietong_sdk) end to end through the real socket: typed
results, refusals as exceptions, subscriptions, and staying connected (reconnect with
backoff, draining, token renewal) while catching up on what was missed exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from xietong_sdk import (
    Backoff,
    BadRequest,
    Conflict,
    Forbidden,
    NotConnected,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
    XietongClient,
    XietongError,
)
from xietong_sdk.models import Message

from core.clock import FakeClock
from signaling.app import Node
from tests.chat_helpers import send
from tests.conftest import Connect, NodeFactory
from tests.flow_helpers import leave

QUICK = Backoff(base=0.05, cap=0.2)
Sdk = Callable[..., XietongClient]


class Seen:
    """Everything a client's subscribers were given, in order."""

    def __init__(self, client: XietongClient) -> None:
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        client.on_any(self._record)

    def _record(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        self._changed.set()

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    def message_ids(self) -> list[str]:
        return [data["message"]["id"] for data in self.of("msg:new")]

    async def wait(self, event: str, predicate: Callable[[Any], bool] = lambda _: True,
                   seconds: float = 10.0) -> Any:
        async with asyncio.timeout(seconds):
            while True:
                for name, data in self.events:
                    if name == event and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def sdk() -> AsyncIterator[Sdk]:
    made: list[XietongClient] = []

    def make(url: str | list[str], **options: Any) -> XietongClient:
        client = XietongClient(url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def online(sdk: Sdk, url: str | list[str], username: str,
                 **options: Any) -> tuple[XietongClient, Seen]:
    client = sdk(url, **options)
    await client.login(username, "demo")
    seen = Seen(client)
    await client.connect()
    return client, seen


@contextlib.asynccontextmanager
async def outage(node: Node, client: XietongClient) -> AsyncIterator[None]:
    """The node stops taking connections and drops the client's socket; it listens on the
    same port again when the block ends, so the client can only come back then."""
    assert node.runner is not None and node.port is not None
    for site in list(node.runner.sites):
        await site.stop()
    sid = client.connection.sid
    assert sid is not None
    await node.gateway.sio.disconnect(sid)
    try:
        yield
    finally:
        await web.TCPSite(node.runner, node.config.host, node.port).start()


async def test_login_connect_send_and_receive_a_typed_message(node: Node, sdk: Sdk) -> None:
    alice, _ = await online(sdk, node.url, "staff01")
    bob, bob_seen = await online(sdk, node.url, "staff02")
    assert alice.user is not None and alice.user["id"] == "staff01"
    conv = await alice.conversations.create_direct("staff02")
    assert conv["id"] == "d:staff01|staff02" and conv["type"] == "direct"
    sent: Message = await alice.chat.send(conv["id"], "你好")
    assert sent["seq"] == 1 and sent["sender_id"] == "staff01" and sent["text"] == "你好"
    got = await bob_seen.wait("msg:new", lambda d: d["message"]["id"] == sent["id"])
    assert got["message"]["text"] == "你好"
    page = await bob.chat.history(conv["id"])
    assert [m["id"] for m in page["messages"]] == [sent["id"]] and page["has_more"] is False
    assert await bob.chat.read(conv["id"], sent["seq"]) == 1
    inbox = await bob.conversations.list()
    assert any(e["id"] == conv["id"] and e["unread"] == 0 for e in inbox)
    assert (await bob.ping()).endswith("Z")


async def test_each_refusal_raises_the_class_of_its_code(node: Node, sdk: Sdk,
                                                         start_node: NodeFactory) -> None:
    alice, _ = await online(sdk, node.url, "staff01")
    stranger, _ = await online(sdk, node.url, "staff03")
    conv = await alice.conversations.create_direct("staff02")
    with pytest.raises(Forbidden) as forbidden:
        await stranger.chat.history(conv["id"])
    assert forbidden.value.code == "forbidden" and "member" in forbidden.value.message
    group = await alice.conversations.create_group(["staff02"], "g")
    with pytest.raises(BadRequest) as bad:
        await alice.conversations.add_members(group["id"], [])
    assert bad.value.field == "user_ids" and bad.value.message.startswith("user_ids")
    with pytest.raises(NotFound):
        await alice.conversations.get("g:0000")
    with pytest.raises(BadRequest, match="unknown event"):
        await alice.call("no:such:event", {})
    # An acknowledgement that does not come in time.
    gate = asyncio.Event()

    async def held(_sid: str, _data: Any = None) -> dict[str, Any]:
        await gate.wait()
        return {"ok": True, "data": {}}

    node.gateway.sio.on("sdk:held", held)
    with pytest.raises(Timeout):
        await alice.call("sdk:held", {}, seconds=0.2)
    gate.set()
    # REST refusals take the same classes.
    with pytest.raises(Unauthorized):
        await sdk(node.url).login("staff01", "wrong")
    with pytest.raises(NotFound):
        await alice.directory.user("nobody-at-all")
    # Sending too fast says how long to wait.
    strict = await start_node(send_rate_max=1, node_id="node-strict")
    hasty, _ = await online(sdk, strict.url, "staff04")
    chat = await hasty.conversations.create_direct("staff05")
    await hasty.chat.send(chat["id"], "one")
    with pytest.raises(RateLimited) as limited:
        await hasty.chat.send(chat["id"], "two")
    assert limited.value.retry_after_ms > 0
    with pytest.raises(NotConnected):
        await sdk(node.url).call("ping", {})


async def test_a_card_is_acted_on_once_and_a_stale_version_is_a_conflict(
        node: Node, sdk: Sdk) -> None:
    applicant, _ = await online(sdk, node.url, "staff01")
    head, head_seen = await online(sdk, node.url, "director")
    request = leave(1)
    started = await applicant.flows.start(request["flow"], request["form"])
    pushed = await head_seen.wait("msg:new", lambda d: (d["message"].get("card") or {})
                                  .get("card_id") == started["card_id"])
    card = pushed["message"]["card"]
    assert "approve" in [a["id"] for a in card["actions"]]
    todo = await head.flows.list("todo")
    assert [i["card_id"] for i in todo["items"]] == [started["card_id"]]
    approved = await head.cards.act(card["card_id"], "approve", card["version"], key="k1")
    assert approved["status"] == "approved" and approved["version"] > card["version"]
    again = await head.cards.act(card["card_id"], "approve", card["version"], key="k1")
    assert again["version"] == approved["version"]  # the first outcome, no second effect
    with pytest.raises(Conflict) as stale:
        await head.cards.act(card["card_id"], "approve", card["version"], key="k2")
    assert stale.value.details["card"]["version"] == approved["version"]
    update = await applicant.cards.get(card["card_id"])
    assert update["status"] == "approved"


async def test_subscribers_get_pushes_in_order_plain_or_async_and_off_stops_them(
        node: Node, sdk: Sdk, connect: Connect) -> None:
    alice, _ = await online(sdk, node.url, "staff01")
    peer = await connect("staff02")
    conv = await alice.conversations.create_direct("staff02")
    plain: list[str] = []
    awaited: list[str] = []

    @alice.on("msg:new")
    async def slow(data: Any) -> None:
        await asyncio.sleep(0.01)
        awaited.append(data["message"]["text"])

    alice.on("msg:new", lambda data: plain.append(data["message"]["text"]))
    texts = [f"m{i}" for i in range(5)]
    for text in texts:
        await send(peer, conv["id"], text)
    async with asyncio.timeout(10):
        while awaited != texts:
            await asyncio.sleep(0.01)
    assert plain == texts
    alice.off("msg:new", slow)
    await send(peer, conv["id"], "after")
    async with asyncio.timeout(10):
        while plain[-1] != "after":
            await asyncio.sleep(0.01)
    assert awaited == texts


async def test_after_a_drop_missed_messages_and_changes_arrive_once_each(
        node: Node, sdk: Sdk, connect: Connect) -> None:
    owner = await connect("staff02")
    alice, seen = await online(sdk, node.url, "staff01", backoff=QUICK)
    conv_id = (await owner.ok("conv:create", {"type": "group", "members": ["staff01"],
                                              "title": "before"}))["conversation"]["id"]
    first = await send(owner, conv_id, "first")
    await seen.wait("msg:new", lambda d: d["message"]["id"] == first["id"])
    assert (await alice.presence.subscribe(["staff02"]))["staff02"]["status"] == "online"
    async with outage(node, alice):
        lost = await seen.wait("connection:lost")
        assert lost["reconnecting"] is True and not alice.connected
        missed = [await send(owner, conv_id, f"missed {i}") for i in range(3)]
        await owner.ok("conv:update", {"conv_id": conv_id, "title": "after"})
        assert all(m["id"] not in seen.message_ids() for m in missed)
    restored = await seen.wait("connection:restored")
    assert restored["url"] == node.url and alice.connected
    texts = [d["message"]["id"] for d in seen.of("msg:new") if d["message"]["type"] == "text"]
    assert texts == [first["id"], *[m["id"] for m in missed]]
    notices = [d["message"]["event"] for d in seen.of("msg:new")
               if d["message"]["type"] == "system"]
    assert [n["kind"] for n in notices] == ["updated"]  # the rename's notice, missed too
    # What was missed comes before the restoration is announced.
    names = [name for name, _ in seen.events]
    assert names.index("connection:restored") > max(
        i for i, (name, _) in enumerate(seen.events) if name == "msg:new")
    updated = [d for d in seen.of("conv:updated") if d["conversation"]["id"] == conv_id]
    assert [d["conversation"]["title"] for d in updated] == ["after"]
    # The new socket is subscribed again to whom the old one watched.
    assert names.index("presence", names.index("connection:lost")) < \
        names.index("connection:restored")
    assert seen.of("presence")[-1] == {"user_id": "staff02", "status": "online",
                                       "devices": ["web"]}
    # Live again: the next message comes once, and nothing came twice.
    live = await send(owner, conv_id, "live")
    await seen.wait("msg:new", lambda d: d["message"]["id"] == live["id"])
    assert len(seen.message_ids()) == len(set(seen.message_ids())) == 6
    assert alice.state.seqs[conv_id] == live["seq"]


async def test_a_draining_node_sends_the_client_to_another_node(
        start_node: NodeFactory, sdk: Sdk, connect: Connect) -> None:
    a = await start_node(node_id="node-drain-a", drain_retry_after_ms=100)
    b = await start_node(node_id="node-drain-b")
    peer = await connect("staff02", on=b)
    alice, seen = await online(sdk, [a.url, b.url], "staff01", backoff=QUICK)
    conv = await alice.conversations.create_direct("staff02")
    await a.close()
    assert (await seen.wait("server:draining")) == {"retry_after_ms": 100}
    restored = await seen.wait("connection:restored")
    assert restored["url"] == b.url and alice.url == b.url
    sent = await send(peer, conv["id"], "on b")
    await seen.wait("msg:new", lambda d: d["message"]["id"] == sent["id"])
    assert (await alice.chat.send(conv["id"], "from b"))["seq"] == 2


async def test_an_expiring_token_is_renewed_and_the_socket_stays(
        start_node: NodeFactory, sdk: Sdk, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, access_token_ttl=600, token_expiry_warning=300)
    alice, seen = await online(sdk, node.url, "staff01")
    first_token = alice.rest.token
    await fake_clock.advance(600 - 299)
    await node.gateway.check_expiry()
    warned = await seen.wait("auth:expiring")
    renewed = await seen.wait("auth:renewed")
    assert renewed["expires_at"] > warned["expires_at"] and alice.rest.token != first_token
    await fake_clock.advance(400)  # past the first token's expiry
    await node.gateway.check_expiry()
    assert alice.connected and seen.of("auth:expired") == []
    assert (await alice.ping()).endswith("Z")


async def test_a_socket_closed_for_an_expired_token_refreshes_then_reconnects(
        start_node: NodeFactory, sdk: Sdk, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, access_token_ttl=600)
    alice, seen = await online(sdk, node.url, "staff01", backoff=QUICK)
    expired_token = alice.rest.token
    await fake_clock.advance(601)
    await node.gateway.check_expiry()
    await seen.wait("auth:expired")
    await seen.wait("connection:restored")
    assert alice.connected and alice.rest.token != expired_token
    assert (await alice.ping()).endswith("Z")


async def test_a_revoked_user_is_not_reconnected(node: Node, sdk: Sdk) -> None:
    alice, seen = await online(sdk, node.url, "staff01", backoff=QUICK)
    admin = sdk(node.url)
    await admin.login("admin", "demo")
    await admin.admin.revoke("staff01")
    assert (await seen.wait("connection:closed")) == {"reason": "revoked"}
    assert seen.of("connection:lost") == [] and not alice.connected


async def test_a_client_away_longer_than_the_feed_keeps_is_told_to_reload(
        start_node: NodeFactory, sdk: Sdk, connect: Connect, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0)
    peer = await connect("staff02", on=node)
    alice, seen = await online(sdk, node.url, "staff01", backoff=QUICK)
    conv = await alice.conversations.create_direct("staff02")
    async with outage(node, alice):
        await seen.wait("connection:lost")
        missed = await send(peer, conv["id"], "while away")
        await fake_clock.advance(8 * 86400)
    reset = await seen.wait("sync:reset")
    assert reset["reason"] == "gone"
    await seen.wait("connection:restored")
    # Messages of conversations it knew still come back.
    assert missed["id"] in seen.message_ids()


async def test_rest_uploads_and_downloads_a_chat_file(node: Node, sdk: Sdk) -> None:
    alice, _ = await online(sdk, node.url, "staff01")
    conv = await alice.conversations.create_direct("staff02")
    stored = await alice.chat.upload(conv["id"], "说明.txt", "会议纪要".encode())
    assert stored["name"] == "说明.txt" and stored["content_type"].startswith("text/plain")
    message = await alice.chat.send_file(conv["id"], stored["id"], "附件")
    assert message["type"] == "file" and message["file"]["id"] == stored["id"]
    assert await alice.chat.download(stored["id"]) == "会议纪要".encode()
    with pytest.raises(XietongError) as refused:
        await alice.rest.request("GET", "/api/v1/no-such-route")
    assert refused.value.code == "not_found"
