"""The card engine (PROTOCOL §4): delivery as chat, per-viewer views, acts that take effect
exactly once, card:update to every holder."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from cards.models import Action, Card, Input
from signaling.app import Node
from tests.chat_helpers import error_code, group
from tests.conftest import Connect, NodeFactory
from tests.flow_helpers import decide, leave

_keys = itertools.count()
APPROVE = Action("approve", "同意", style="primary", status="approved",
                 inputs=(Input("comment", "comment"),))
REJECT = Action("reject", "驳回", style="danger", status="rejected",
                inputs=(Input("comment", "comment", required=True),))


async def make_card(node: Node, approvers: list[str], watchers: list[str] = (),  # type: ignore[assignment]
                    mode: str = "any") -> Card:
    return await node.services.cards.create(
        kind="test", title="请假申请", holders=[*approvers, *watchers],
        actions=(APPROVE, REJECT), can_act={u: ("approve", "reject") for u in approvers},
        mode=mode, fields=(("申请人", "staff02"), ("天数", "2")))


def act(card_id: str, version: int, action: str = "approve", key: str | None = None,
        **inputs: Any) -> dict[str, Any]:
    return {"card_id": card_id, "action": action, "version": version,
            "idempotency_key": key or f"k{next(_keys)}", "inputs": inputs}


async def test_a_card_arrives_as_a_chat_message_each_viewer_seeing_their_own_actions(
        node: Node, connect: Connect) -> None:
    approver, watcher = await connect("director"), await connect("staff02")
    card = await make_card(node, ["director"], ["staff02"])
    mine = await approver.wait_for("msg:new", lambda d: d["message"]["type"] == "card")
    theirs = await watcher.wait_for("msg:new", lambda d: d["message"]["type"] == "card")
    assert mine["message"]["conv_id"] == "n:director"
    assert [a["id"] for a in mine["message"]["card"]["actions"]] == ["approve", "reject"]
    assert mine["message"]["card"]["actions"][1]["inputs"] == [
        {"id": "comment", "type": "comment", "required": True}]
    assert theirs["message"]["card"]["actions"] == []
    assert theirs["message"]["card"]["fields"] == [{"label": "申请人", "value": "staff02"},
                                                   {"label": "天数", "value": "2"}]
    listed = (await approver.ok("conv:list", {}))["conversations"]
    notices = next(c for c in listed if c["id"] == "n:director")
    assert notices["unread"] == 1
    assert (await approver.ok("card:get", {"card_id": card.id}))["card"]["version"] == 1


async def test_of_twenty_approvers_clicking_at_once_exactly_one_decides(
        node: Node, connect: Connect) -> None:
    approvers = [f"staff{n:02d}" for n in range(1, 21)]
    clients = [await connect(u) for u in approvers]
    card = await make_card(node, approvers)
    replies = await asyncio.gather(*[c.call("card:act", act(card.id, 1)) for c in clients])
    winners = [approvers[i] for i, r in enumerate(replies) if r["ok"]]
    assert len(winners) == 1
    for reply in replies:
        if not reply["ok"]:
            assert reply["error"]["code"] == "conflict"
            current = reply["error"]["details"]["card"]
            assert current["version"] == 2 and current["status"] == "approved"
            assert current["timeline"][-1]["actor_id"] == winners[0]
            assert current["actions"] == []
    final = (await clients[0].ok("card:get", {"card_id": card.id}))["card"]
    assert len(final["timeline"]) == 1 and final["status"] == "approved"


async def test_a_repeated_key_returns_the_first_outcome_with_no_second_effect(
        node: Node, connect: Connect) -> None:
    phone, desktop = await connect("director"), await connect("director")
    card = await make_card(node, ["director", "deputy"], mode="all")
    first, second = await asyncio.gather(phone.call("card:act", act(card.id, 1, key="tap")),
                                         desktop.call("card:act", act(card.id, 1, key="tap")))
    assert first == second and first["ok"] is True
    again = await phone.call("card:act", act(card.id, 1, key="tap"))
    assert again == first
    deputy = await connect("deputy")
    refused = await deputy.call("card:act", act(card.id, 2, action="reject", key="no-comment"))
    assert error_code(refused) == "bad_request" and "inputs.comment" in refused["error"][
        "message"]
    assert await deputy.call("card:act", act(card.id, 2, action="reject",
                                             key="no-comment", comment="now")) == refused
    state = (await phone.ok("card:get", {"card_id": card.id}))["card"]
    assert [t["actor_id"] for t in state["timeline"]] == ["director"]
    assert state["status"] == "pending" and state["version"] == 2


async def test_stale_versions_strangers_and_closed_actions_are_refused(
        node: Node, connect: Connect) -> None:
    approver, stranger = await connect("director"), await connect("staff09")
    card = await make_card(node, ["director"], ["staff02"])
    assert error_code(await stranger.call("card:get", {"card_id": card.id})) == "forbidden"
    assert error_code(await stranger.call("card:act", act(card.id, 1))) == "forbidden"
    assert error_code(await approver.call("card:act", act("nope", 1))) == "not_found"
    stale = await approver.call("card:act", act(card.id, 7))
    assert error_code(stale) == "conflict" and stale["error"]["details"]["card"]["version"] == 1
    watcher = await connect("staff02")
    assert error_code(await watcher.call("card:act", act(card.id, 1))) == "forbidden"
    assert error_code(await approver.call("card:act", act(card.id, 1, action="sign"))) == \
        "forbidden"


async def test_every_holder_on_every_device_and_node_sees_the_card_change(
        start_node: NodeFactory, connect: Connect) -> None:
    node_a, node_b = await start_node(), await start_node(node_id="node-b")
    approver = await connect("director", on=node_a)
    watcher_a, watcher_b = (await connect("staff02", on=node_a),
                            await connect("staff02", on=node_b))
    card = await make_card(node_a, ["director", "deputy"], ["staff02"])
    before = (await watcher_b.ok("changes:since", {}))["cursor"]
    done = await approver.ok("card:act", act(card.id, 1, comment="同意，注意交接"))
    assert done["card"]["status"] == "approved" and done["card"]["actions"] == []
    for device in (watcher_a, watcher_b, approver):
        update = await device.wait_for("card:update", lambda d: d["card_id"] == card.id)
        assert update["version"] == 2 and update["card"]["status"] == "approved"
        assert update["card"]["timeline"][0]["comment"] == "同意，注意交接"
    history = (await watcher_b.ok("msg:history", {"conv_id": "n:staff02"}))["messages"]
    assert history[0]["card"]["status"] == "approved"  # rendered now, never stale
    assert history[0]["card"]["version"] == 2
    feed = (await watcher_b.ok("changes:since", {"cursor": before}))["events"]
    assert [(e["event"], e["data"]["card"]["status"]) for e in feed] == [
        ("card:update", "approved")]


async def test_in_all_mode_everyone_acts_once_and_a_rejection_ends_it(
        node: Node, connect: Connect) -> None:
    a, b, c = await connect("director"), await connect("deputy"), await connect("chief")
    card = await make_card(node, ["director", "deputy"])
    everyone = await make_card(node, ["director", "deputy", "chief"], mode="all")
    await a.ok("card:act", act(everyone.id, 1))
    after_one = (await b.ok("card:get", {"card_id": everyone.id}))["card"]
    assert after_one["status"] == "pending" and [x["id"] for x in after_one["actions"]] == [
        "approve", "reject"]
    assert (await a.ok("card:get", {"card_id": everyone.id}))["card"]["actions"] == []
    await b.ok("card:act", act(everyone.id, 2))
    last = await c.ok("card:act", act(everyone.id, 3))
    assert last["card"]["status"] == "approved"
    rejected = await b.ok("card:act", act(card.id, 1, action="reject", comment="材料不全"))
    assert rejected["card"]["status"] == "rejected"


async def test_a_card_shared_into_a_group_reaches_its_members_and_so_do_its_changes(
        connect: Connect) -> None:
    staff, director, member, outsider = [await connect(u) for u in (
        "staff02", "director", "staff03", "staff05")]
    card_id = (await staff.ok("flow:start", leave(1, phone="13812345678")))["card_id"]
    conv_id = await group(staff, ["staff03", "director"], "请假讨论")
    shares = await asyncio.gather(*(staff.ok("card:share", {"card_id": card_id,
                                                             "conv_id": conv_id})
                                    for _ in range(2)))
    assert sorted(s["shared"] for s in shares) == [False, True]
    posted = await member.wait_for("msg:new", lambda d: d["message"]["conv_id"] == conv_id and
                                   d["message"]["type"] == "card")
    seen = posted["message"]["card"]
    assert seen["card_id"] == card_id and seen["actions"] == []
    phone = next(f for f in seen["fields"] if f["label"] == "假期联系电话")
    assert phone["masked"] is True and phone["value"] == "138****5678"
    in_group = await director.wait_for("msg:new", lambda d: d["message"]["conv_id"] == conv_id)
    assert [a["id"] for a in in_group["message"]["card"]["actions"]] == ["approve", "reject"]

    await decide(director, card_id)
    update = await member.wait_for("card:update", lambda d: d["card_id"] == card_id)
    assert update["card"]["status"] == "approved"
    assert (await member.ok("card:get", {"card_id": card_id}))["card"]["status"] == "approved"
    history = (await member.ok("msg:history", {"conv_id": conv_id}))["messages"]
    assert len([m for m in history if m["type"] == "card"]) == 1
    assert error_code(await outsider.call("card:get", {"card_id": card_id})) == "forbidden"
    reply = await outsider.call("card:share", {"card_id": card_id, "conv_id": conv_id})
    assert error_code(reply) == "forbidden"
    others = await group(outsider, ["staff06"], "别的群")
    reply = await staff.call("card:share", {"card_id": card_id, "conv_id": others})
    assert error_code(reply) == "forbidden"
