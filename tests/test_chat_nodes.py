"""Chat across nodes: sender and receiver connected to different nodes of one deployment."""

from __future__ import annotations

from tests.chat_helpers import direct, group, send
from tests.conftest import Connect, NodeFactory


async def test_messages_and_receipts_cross_nodes(start_node: NodeFactory,
                                                 connect: Connect) -> None:
    node_a, node_b = await start_node(), await start_node(node_id="node-b")
    sender = await connect("staff01", on=node_a)
    receiver = await connect("staff02", on=node_b)
    receiver_phone = await connect("staff02", on=node_a)
    conv_id = await direct(sender, "staff02")
    sent = await send(sender, conv_id, "跨节点")
    for device in (receiver, receiver_phone):
        got = await device.wait_for("msg:new", lambda d: d["message"]["id"] == sent["id"])
        assert got["message"]["text"] == "跨节点"
    await receiver.ok("msg:read", {"conv_id": conv_id, "seq": sent["seq"]})
    assert (await sender.wait_for("msg:receipt"))["read_seq"] == sent["seq"]


async def test_membership_changed_on_one_node_governs_sends_on_the_other(
        start_node: NodeFactory, connect: Connect) -> None:
    node_a, node_b = await start_node(), await start_node(node_id="node-b")
    owner = await connect("director", on=node_a)
    member_b = await connect("staff01", on=node_b)
    conv_id = await group(owner, ["staff01"])
    await send(member_b, conv_id, "node b knows this group now")
    await owner.ok("conv:members:add", {"conv_id": conv_id, "user_ids": ["staff02"]})
    newcomer = await connect("staff02", on=node_a)
    sent = await send(member_b, conv_id, "welcome")
    got = await newcomer.wait_for("msg:new", lambda d: d["message"]["id"] == sent["id"])
    assert got["message"]["text"] == "welcome"
    await owner.ok("conv:members:remove", {"conv_id": conv_id, "user_ids": ["staff01"]})
    reply = await member_b.call("msg:send", {"conv_id": conv_id, "client_msg_id": "gone",
                                             "text": "still here?"})
    assert reply["error"]["code"] == "forbidden"
