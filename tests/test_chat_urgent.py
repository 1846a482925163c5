"""Urgent messages (DING): reminders every interval until acknowledged, across restarts."""

from __future__ import annotations

from core.clock import FakeClock
from tests.chat_helpers import error_code, group, send
from tests.conftest import Connect, NodeFactory


async def test_unacknowledged_recipients_are_reminded_every_interval_until_they_ack(
        start_node: NodeFactory, connect: Connect, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, urgent_interval=300.0)
    sender, acker, ignorer = [await connect(u, on=node) for u in ("director", "staff01",
                                                                   "staff02")]
    conv_id = await group(sender, ["staff01", "staff02"])
    urgent = await send(sender, conv_id, "速回电话", urgent=True)
    assert urgent["urgent"] is True
    await fake_clock.advance(299)
    await send(sender, conv_id, "a sync point")
    await ignorer.wait_for("msg:new", lambda d: d["message"]["text"] == "a sync point")
    assert ignorer.received("msg:urgent") == []
    await fake_clock.advance(6)  # reminders are checked every few seconds of the clock
    for client in (acker, ignorer):
        reminder = await client.wait_for("msg:urgent")
        assert reminder["message"]["id"] == urgent["id"] and reminder["reminded"] == 1
    assert sender.received("msg:urgent") == []

    await acker.ok("msg:ack", {"msg_id": urgent["id"]})
    acked = await sender.wait_for("msg:acked")
    assert acked == {"conv_id": conv_id, "msg_id": urgent["id"], "user_id": "staff01"}
    status = await sender.ok("msg:readers", {"conv_id": conv_id, "msg_id": urgent["id"]})
    assert status["acked"] == ["staff01"] and status["unacked"] == ["staff02"]

    await fake_clock.advance(306)
    second = await ignorer.wait_for("msg:urgent", lambda d: d["reminded"] == 2)
    assert second["message"]["id"] == urgent["id"]
    assert len(acker.received("msg:urgent")) == 1
    assert error_code(await sender.call("msg:ack", {"msg_id": urgent["id"]})) == "not_found"


async def test_reminders_survive_a_restart(start_node: NodeFactory, connect: Connect,
                                           fake_clock: FakeClock) -> None:
    first = await start_node(clock=fake_clock, urgent_interval=60.0)
    sender = await connect("director", on=first)
    conv_id = await group(sender, ["staff01"])
    urgent = await send(sender, conv_id, "紧急", urgent=True, mentions=["user:staff01"])
    await first.close()

    second = await start_node(clock=fake_clock, urgent_interval=60.0)
    recipient = await connect("staff01", on=second)
    await fake_clock.advance(61)
    await fake_clock.advance(12)
    reminder = await recipient.wait_for("msg:urgent")
    assert reminder["message"]["id"] == urgent["id"]
    assert reminder["message"]["mention"] is True


async def test_a_recalled_urgent_message_stops_reminding(start_node: NodeFactory,
                                                         connect: Connect,
                                                         fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, urgent_interval=60.0)
    sender, recipient = await connect("director", on=node), await connect("staff01", on=node)
    conv_id = await group(sender, ["staff01"])
    urgent = await send(sender, conv_id, "发错了", urgent=True)
    await sender.ok("msg:recall", {"msg_id": urgent["id"]})
    await fake_clock.advance(61)
    await send(sender, conv_id, "sync")
    await recipient.wait_for("msg:new", lambda d: d["message"]["text"] == "sync")
    await fake_clock.advance(61)
    await send(sender, conv_id, "sync again")
    await recipient.wait_for("msg:new", lambda d: d["message"]["text"] == "sync again")
    assert recipient.received("msg:urgent") == []
