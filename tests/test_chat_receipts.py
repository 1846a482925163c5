"""PROTOCOL §3 read cursors, receipts and msg:readers."""

from __future__ import annotations

import asyncio

from core.clock import FakeClock
from tests.chat_helpers import direct, error_code, group, send
from tests.conftest import Connect, NodeFactory


async def test_a_read_cursor_only_moves_forward_even_when_devices_race(
        connect: Connect) -> None:
    a, phone, desktop = await connect("staff01"), await connect("staff02"), \
        await connect("staff02")
    conv_id = await direct(a, "staff02")
    for n in range(5):
        await send(a, conv_id, f"{n}")
    replies = await asyncio.gather(*[(phone if n % 2 else desktop).ok(
        "msg:read", {"conv_id": conv_id, "seq": n}) for n in (3, 5, 4, 2, 1)])
    assert max(r["read_seq"] for r in replies) == 5
    assert (await phone.ok("msg:read", {"conv_id": conv_id, "seq": 2}))["read_seq"] == 5
    readers = await a.ok("msg:readers", {"conv_id": conv_id, "msg_id": (await send(
        a, conv_id, "six"))["id"]})
    assert readers == {"read": [], "unread": ["staff02"]}
    assert error_code(await phone.call("msg:read", {"conv_id": conv_id, "seq": 99})) == \
        "bad_request"


async def test_in_a_direct_chat_the_other_person_and_my_other_devices_get_the_receipt(
        connect: Connect) -> None:
    a = await connect("staff01")
    phone, desktop = await connect("staff02"), await connect("staff02")
    conv_id = await direct(a, "staff02")
    await send(a, conv_id, "read me")
    await phone.ok("msg:read", {"conv_id": conv_id, "seq": 1})
    expected = {"conv_id": conv_id, "user_id": "staff02", "read_seq": 1}
    assert await a.wait_for("msg:receipt") == expected
    assert await desktop.wait_for("msg:receipt") == expected


async def test_group_receipts_go_only_to_senders_of_the_newly_read_messages_once_a_second(
        start_node: NodeFactory, connect: Connect, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock)
    members = ["staff01", "staff02", "staff03", "staff04"]
    s1, s2, reader, bystander = [await connect(u, on=node) for u in members]
    conv_id = await group(s1, members[1:])
    await send(s1, conv_id, "from s1")                  # seq 1
    await send(s2, conv_id, "from s2")                  # seq 2
    await send(s1, conv_id, "s1 again")                 # seq 3
    for seq in (1, 2, 3):
        await reader.ok("msg:read", {"conv_id": conv_id, "seq": seq})
    await fake_clock.advance(1.0)
    for sender in (s1, s2):
        got = await sender.wait_for("msg:receipt", lambda d: d["user_id"] == "staff03")
        assert got == {"conv_id": conv_id, "user_id": "staff03", "read_seq": 3}
    await send(bystander, conv_id, "sync point")        # everyone has seen everything before
    for client in (s1, s2):
        await client.wait_for("msg:new", lambda d: d["message"]["sender_id"] == "staff04")
    assert len([r for r in s1.received("msg:receipt") if r["user_id"] == "staff03"]) == 1
    assert len([r for r in s2.received("msg:receipt") if r["user_id"] == "staff03"]) == 1
    assert [r for r in bystander.received("msg:receipt") if r["user_id"] == "staff03"] == []


async def test_readers_lists_read_and_unread_members_at_any_age(connect: Connect) -> None:
    members = ["staff01", "staff02", "staff03"]
    sender, r1, _ = [await connect(u) for u in members]
    conv_id = await group(sender, members[1:])
    old = await send(sender, conv_id, "old")
    for n in range(30):
        await send(sender, conv_id, f"later {n}")
    await r1.ok("msg:read", {"conv_id": conv_id, "seq": old["seq"]})
    readers = await sender.ok("msg:readers", {"conv_id": conv_id, "msg_id": old["id"]})
    assert readers == {"read": ["staff02"], "unread": ["staff03"]}
