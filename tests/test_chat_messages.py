"""PROTOCOL §3 messages: seq, idempotency, delivery, mentions, history, sync, limits."""

from __future__ import annotations

import asyncio

from signaling.app import Node
from tests.chat_helpers import direct, error_code, group, send
from tests.conftest import Connect, NodeFactory


async def test_a_message_reaches_every_device_of_every_member_and_is_stored_first(
        connect: Connect) -> None:
    sender, sender_phone = await connect("staff01"), await connect("staff01")
    peer = await connect("staff02")
    conv_id = await direct(sender, "staff02")
    sent = await send(sender, conv_id, "你好")
    for device in (sender_phone, peer):
        got = await device.wait_for("msg:new", lambda d: d["message"]["id"] == sent["id"])
        assert got["message"]["text"] == "你好" and got["message"]["seq"] == 1
    # Stored before it was published: whoever got the push finds it in history.
    history = await peer.ok("msg:history", {"conv_id": conv_id})
    assert [m["id"] for m in history["messages"]] == [sent["id"]]
    assert set(sent) >= {"id", "conv_id", "seq", "sender_id", "type", "text", "ts"}
    assert sent["sender_id"] == "staff01" and sent["ts"].endswith("Z")


async def test_concurrent_senders_never_share_or_skip_a_seq(connect: Connect) -> None:
    members = ["staff01", "staff02", "staff03", "staff04"]
    clients = [await connect(u) for u in members]
    conv_id = await group(clients[0], members[1:])
    per_client = 15
    sent = await asyncio.gather(*[send(c, conv_id, f"{i}-{n}") for i, c in enumerate(clients)
                                  for n in range(per_client)])
    seqs = sorted(m["seq"] for m in sent)
    assert seqs == list(range(1, len(clients) * per_client + 1))
    history = await clients[0].ok("msg:history", {"conv_id": conv_id, "limit": 200})
    assert [m["seq"] for m in history["messages"]] == seqs[::-1]


async def test_sending_a_client_msg_id_again_returns_the_first_message(connect: Connect) -> None:
    sender = await connect("staff01")
    conv_id = await direct(sender, "staff02")
    payload = {"conv_id": conv_id, "client_msg_id": "retry-1", "text": "once"}
    first = (await sender.ok("msg:send", payload))["message"]
    again = (await sender.ok("msg:send", {**payload, "text": "twice"}))["message"]
    assert again["id"] == first["id"] and again["text"] == "once"
    history = await sender.ok("msg:history", {"conv_id": conv_id})
    assert len(history["messages"]) == 1


async def test_one_client_msg_id_from_two_devices_at_once_stores_one_message(
        connect: Connect) -> None:
    phone, desktop = await connect("staff01"), await connect("staff01")
    conv_id = await direct(phone, "staff02")
    for attempt in range(5):
        payload = {"conv_id": conv_id, "client_msg_id": f"dup-{attempt}", "text": "x"}
        a, b = await asyncio.gather(phone.ok("msg:send", payload),
                                    desktop.ok("msg:send", payload))
        assert a["message"]["id"] == b["message"]["id"]
    history = await phone.ok("msg:history", {"conv_id": conv_id})
    assert [m["seq"] for m in history["messages"]] == [5, 4, 3, 2, 1]


async def test_history_pages_newest_first(connect: Connect) -> None:
    client = await connect("staff01")
    conv_id = await direct(client, "staff02")
    for n in range(7):
        await send(client, conv_id, f"n{n}")
    page = await client.ok("msg:history", {"conv_id": conv_id, "limit": 3})
    assert [m["seq"] for m in page["messages"]] == [7, 6, 5] and page["has_more"] is True
    page = await client.ok("msg:history", {"conv_id": conv_id, "before_seq": 5, "limit": 3})
    assert [m["seq"] for m in page["messages"]] == [4, 3, 2] and page["has_more"] is True
    page = await client.ok("msg:history", {"conv_id": conv_id, "before_seq": 2, "limit": 3})
    assert [m["seq"] for m in page["messages"]] == [1] and page["has_more"] is False


async def test_sync_returns_what_was_missed_oldest_first_with_has_more(connect: Connect) -> None:
    a = await connect("staff01")
    first = await direct(a, "staff02")
    second = await group(a, ["staff02", "staff03"])
    for n in range(3):
        await send(a, first, f"d{n}")
        await send(a, second, f"g{n}")
    b = await connect("staff02")
    page = await b.ok("msg:sync", {"cursors": {first: 1, second: 0}, "limit": 3})
    assert page["has_more"] is True and len(page["messages"]) == 3
    seen = {first: 1, second: 0}
    got = list(page["messages"])
    while True:
        for message in page["messages"]:
            assert message["seq"] == seen[message["conv_id"]] + 1  # no holes within a chat
            seen[message["conv_id"]] = message["seq"]
        if not page["has_more"]:
            break
        page = await b.ok("msg:sync", {"cursors": seen, "limit": 3})
        got += page["messages"]
    assert seen == {first: 3, second: 3}
    assert len(got) == 2 + 3
    stamps = [m["ts"] for m in (await b.ok("msg:sync", {"cursors": {first: 0, second: 0}}))[
        "messages"]]
    assert stamps == sorted(stamps)


async def test_mentions_flag_the_mentioned_users_copy(connect: Connect) -> None:
    owner = await connect("director")
    staff01, staff02, fin = (await connect("staff01"), await connect("staff02"),
                             await connect("staff06"))
    conv_id = await group(owner, ["staff01", "staff02", "staff06"])
    sent = await send(staff01, conv_id, "@staff02 请看", mentions=["user:staff02"])
    assert (await staff02.wait_for("msg:new", lambda d: d["message"]["id"] == sent["id"]))[
        "message"]["mention"] is True
    assert (await fin.wait_for("msg:new", lambda d: d["message"]["id"] == sent["id"]))[
        "message"]["mention"] is False
    by_dept = await send(owner, conv_id, "财务的同事", mentions=["dept:finance"])
    assert (await fin.wait_for("msg:new", lambda d: d["message"]["id"] == by_dept["id"]))[
        "message"]["mention"] is True
    assert (await staff02.wait_for("msg:new", lambda d: d["message"]["id"] == by_dept["id"]))[
        "message"]["mention"] is False
    everyone = await send(owner, conv_id, "全体", mentions=["all"])
    for client in (staff01, staff02, fin):
        got = await client.wait_for("msg:new", lambda d: d["message"]["id"] == everyone["id"])
        assert got["message"]["mention"] is True
    history = await fin.ok("msg:history", {"conv_id": conv_id, "limit": 3})
    assert [m["mention"] for m in history["messages"]] == [True, True, False]


async def test_only_the_owner_or_an_admin_mentions_all(connect: Connect) -> None:
    owner, member = await connect("director"), await connect("staff01")
    conv_id = await group(owner, ["staff01"])
    reply = await member.call("msg:send", {"conv_id": conv_id, "client_msg_id": "a",
                                           "text": "hi", "mentions": ["all"]})
    assert error_code(reply) == "forbidden"
    await owner.ok("conv:admin", {"conv_id": conv_id, "user_id": "staff01", "admin": True})
    await send(member, conv_id, "hi all", mentions=["all"])
    reply = await member.call("msg:send", {"conv_id": conv_id, "client_msg_id": "b",
                                           "text": "x", "mentions": ["user:staff09"]})
    assert error_code(reply) == "bad_request" and "staff09" in reply["error"]["message"]
    reply = await member.call("msg:send", {"conv_id": conv_id, "client_msg_id": "c",
                                           "text": "x", "mentions": ["everyone"]})
    assert error_code(reply) == "bad_request"


async def test_text_longer_than_the_limit_is_refused_and_nothing_is_stored(
        start_node: NodeFactory, connect: Connect) -> None:
    node: Node = await start_node(chat_text_max=10)
    client = await connect("staff01", on=node)
    conv_id = await direct(client, "staff02")
    reply = await client.call("msg:send", {"conv_id": conv_id, "client_msg_id": "long",
                                           "text": "x" * 11})
    assert error_code(reply) == "too_large"
    reply = await client.call("msg:send", {"conv_id": conv_id, "client_msg_id": "empty",
                                           "text": "   "})
    assert error_code(reply) == "bad_request"
    assert (await client.ok("msg:history", {"conv_id": conv_id}))["messages"] == []
    await send(client, conv_id, "x" * 10)


async def test_sending_faster_than_the_rate_gets_rate_limited(start_node: NodeFactory,
                                                              connect: Connect) -> None:
    node = await start_node(send_rate_max=3, send_rate_window=60)
    client = await connect("staff01", on=node)
    conv_id = await direct(client, "staff02")
    for n in range(3):
        await send(client, conv_id, f"{n}")
    reply = await client.call("msg:send", {"conv_id": conv_id, "client_msg_id": "4th",
                                           "text": "too fast"})
    assert error_code(reply) == "rate_limited"
    assert 0 < reply["error"]["details"]["retry_after_ms"] <= 60_000
    other = await connect("staff02", on=node)
    await send(other, conv_id, "others are not limited by it")


async def test_non_members_can_neither_read_nor_write(connect: Connect) -> None:
    a, outsider = await connect("staff01"), await connect("staff09")
    conv_id = await direct(a, "staff02")
    sent = await send(a, conv_id, "secret 机密")
    for event, payload in [
        ("msg:send", {"conv_id": conv_id, "client_msg_id": "x", "text": "hi"}),
        ("msg:history", {"conv_id": conv_id}),
        ("msg:sync", {"cursors": {conv_id: 0}}),
        ("msg:read", {"conv_id": conv_id, "seq": 1}),
        ("msg:readers", {"conv_id": conv_id, "msg_id": sent["id"]}),
        ("msg:recall", {"msg_id": sent["id"]}),
        ("msg:search", {"q": "机密", "conv_id": conv_id}),
        ("conv:get", {"conv_id": conv_id}),
        ("typing", {"conv_id": conv_id}),
    ]:
        assert error_code(await outsider.call(event, payload)) == "forbidden", event
    assert (await outsider.ok("msg:search", {"q": "机密"}))["results"] == []
    for event, payload in [("msg:history", {"conv_id": "d:nobody|none"}),
                           ("msg:recall", {"msg_id": "000000000000000000000000"})]:
        assert error_code(await outsider.call(event, payload)) == "not_found", event


async def test_bad_chat_payloads_name_the_field(connect: Connect) -> None:
    client = await connect("staff01")
    for event, payload, field in [
        ("msg:send", {"conv_id": "x", "text": "no client id"}, "client_msg_id"),
        ("msg:send", {"conv_id": "x", "client_msg_id": "a", "type": "video"}, "type"),
        ("msg:history", {"conv_id": "x", "limit": "ten"}, "limit"),
        ("conv:create", {"type": "direct", "members": ["a", "b"]}, "members"),
        ("msg:read", {"conv_id": "x", "seq": -1}, "seq"),
    ]:
        reply = await client.call(event, payload)
        assert error_code(reply) == "bad_request"
        assert field in reply["error"]["message"], (event, reply)
    assert (await client.ok("ping", {}))["ts"]


async def test_typing_reaches_the_other_members_only(connect: Connect) -> None:
    a, b, c = await connect("staff01"), await connect("staff02"), await connect("staff03")
    conv_id = await group(a, ["staff02", "staff03"])
    await a.ok("typing", {"conv_id": conv_id})
    for other in (b, c):
        assert await other.wait_for("typing") == {"conv_id": conv_id, "user_id": "staff01"}
    await send(b, conv_id, "after typing")
    await a.wait_for("msg:new", lambda d: d["message"]["sender_id"] == "staff02")
    assert a.received("typing") == []


async def test_the_official_js_client_sends_and_receives(node: Node, api, connect: Connect  # type: ignore[no-untyped-def]
                                                         ) -> None:
    from tests.test_socket_contract import run_js_chat

    peer = await connect("staff02")
    conv_id = await direct(peer, "staff01")
    result = await run_js_chat(node.url, await api.token("staff01"), conv_id)
    assert result["outcome"] == "delivered", result
    got = await peer.wait_for("msg:new", lambda d: d["message"]["sender_id"] == "staff01")
    assert got["message"]["text"] == "from socket.io-client"
    assert result["ack"]["message"]["id"] == got["message"]["id"]
    assert result["push"]["message"]["id"] == got["message"]["id"]


async def test_seq_and_idempotency_survive_redis_losing_its_keys(node: Node,
                                                                 connect: Connect) -> None:
    client = await connect("staff01")
    conv_id = await direct(client, "staff02")
    first = (await client.ok("msg:send", {"conv_id": conv_id, "client_msg_id": "keep",
                                          "text": "one"}))["message"]
    await send(client, conv_id, "two")
    prefix = node.config.redis_prefix
    await node.redis.delete(f"{prefix}chat:seq:{conv_id}", f"{prefix}chat:claim:staff01:keep")
    again = (await client.ok("msg:send", {"conv_id": conv_id, "client_msg_id": "keep",
                                          "text": "one, retried"}))["message"]
    assert again["id"] == first["id"]
    third = await send(client, conv_id, "three")
    assert third["seq"] > 2  # reseeded from the stored messages, never reusing a seq
    seqs = [m["seq"] for m in (await client.ok("msg:history", {"conv_id": conv_id}))[
        "messages"]]
    assert len(seqs) == len(set(seqs)) == 3
