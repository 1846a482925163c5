"""PROTOCOL §3 `changes:since`, recall and edit."""

from __future__ import annotations

from datetime import timedelta

from core.clock import FakeClock
from tests.chat_helpers import direct, error_code, group, send
from tests.conftest import Connect, NodeFactory


async def test_a_client_back_from_offline_converges_from_the_change_feed(
        connect: Connect) -> None:
    owner = await connect("director")
    me = await connect("staff01")
    start = (await me.ok("changes:since", {}))["cursor"]
    await me.close()  # offline from here on

    conv_id = await group(owner, ["staff01"], "项目组")
    sent = await send(owner, conv_id, "soon recalled")
    await owner.ok("conv:update", {"conv_id": conv_id, "title": "项目组二"})
    await owner.ok("msg:recall", {"msg_id": sent["id"]})
    other_device = await connect("staff01")
    await other_device.ok("msg:read", {"conv_id": conv_id, "seq": 1})
    edited = await send(owner, conv_id, "typo")
    await owner.ok("msg:edit", {"msg_id": edited["id"], "text": "fixed"})
    await owner.ok("conv:members:remove", {"conv_id": conv_id, "user_ids": ["staff01"]})

    back = await connect("staff01")
    page = await back.ok("changes:since", {"cursor": start})
    kinds = [e["event"] for e in page["events"]]
    assert kinds == ["conv:new", "conv:updated", "msg:recalled", "msg:receipt", "msg:edited",
                     "conv:removed"]
    data = [e["data"] for e in page["events"]]
    assert data[0]["conversation"]["id"] == conv_id
    assert data[1]["conversation"]["title"] == "项目组二"
    assert data[2]["msg_id"] == sent["id"] and data[2]["recalled_by"] == "director"
    assert data[3] == {"conv_id": conv_id, "user_id": "staff01", "read_seq": 1}
    assert data[4]["message"]["text"] == "fixed"
    assert data[5] == {"conv_id": conv_id, "by": "director"}
    assert page["has_more"] is False
    again = await back.ok("changes:since", {"cursor": page["cursor"]})
    assert again["events"] == []
    paged = await back.ok("changes:since", {"cursor": start, "limit": 4})
    assert len(paged["events"]) == 4 and paged["has_more"] is True
    rest = await back.ok("changes:since", {"cursor": paged["cursor"]})
    assert [e["event"] for e in rest["events"]] == kinds[4:]


async def test_a_cursor_older_than_the_retention_is_gone(start_node: NodeFactory,
                                                         connect: Connect,
                                                         fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0)
    client = await connect("staff01", on=node)
    cursor = (await client.ok("changes:since", {}))["cursor"]
    await fake_clock.advance(6 * 24 * 3600)
    assert (await client.ok("changes:since", {"cursor": cursor}))["events"] == []
    await fake_clock.advance(24 * 3600)
    assert error_code(await client.call("changes:since", {"cursor": cursor})) == "gone"
    assert error_code(await client.call("changes:since", {"cursor": "junk"})) == "bad_request"


async def test_the_feed_waits_for_an_event_still_being_written_and_skips_a_failed_one(
        start_node: NodeFactory, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock)
    feed = node.services.feed
    start = await feed.since("staff01", None, 10)
    await feed.append(["staff01"], "first", {})
    await feed._allocate(["staff01"])           # a writer took a cursor and has not written
    await feed.append(["staff01"], "third", {})
    page = await feed.since("staff01", start.cursor, 10)
    assert [e["event"] for e in page.events] == ["first"]
    await fake_clock.advance(4)                 # that writer failed: step over its gap
    page = await feed.since("staff01", page.cursor, 10)
    assert [e["event"] for e in page.events] == ["third"]


async def test_the_sender_recalls_within_the_window_and_not_after(
        start_node: NodeFactory, connect: Connect, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock)
    a, b = await connect("staff01", on=node), await connect("staff02", on=node)
    conv_id = await direct(a, "staff02")
    quick = await send(a, conv_id, "oops")
    await fake_clock.advance(119)
    recalled = (await a.ok("msg:recall", {"msg_id": quick["id"]}))["message"]
    assert recalled["recalled"] is True and recalled["text"] == ""
    pushed = await b.wait_for("msg:recalled")
    assert pushed["msg_id"] == quick["id"] and pushed["recalled_by"] == "staff01"
    history = (await b.ok("msg:history", {"conv_id": conv_id}))["messages"]
    assert history[0]["text"] == "" and history[0]["recalled_at"] == recalled["recalled_at"]
    slow = await send(a, conv_id, "too late")
    await fake_clock.advance(121)
    assert error_code(await a.call("msg:recall", {"msg_id": slow["id"]})) == "forbidden"
    assert error_code(await b.call("msg:recall", {"msg_id": slow["id"]})) == "forbidden"
    assert (await b.ok("msg:search", {"q": "oops"}))["results"] == []


async def test_a_group_owner_or_admin_recalls_any_message_any_time(
        start_node: NodeFactory, connect: Connect, fake_clock: FakeClock) -> None:
    node = await start_node(clock=fake_clock, access_token_ttl=30 * 86400.0)
    owner, member = await connect("director", on=node), await connect("staff01", on=node)
    conv_id = await group(owner, ["staff01"])
    old = await send(member, conv_id, "不当言论")
    await fake_clock.advance(86400)
    recalled = (await owner.ok("msg:recall", {"msg_id": old["id"]}))["message"]
    assert recalled["recalled_by"] == "director"
    again = (await owner.ok("msg:recall", {"msg_id": old["id"]}))["message"]
    assert again["recalled_at"] == recalled["recalled_at"]


async def test_only_the_sender_edits_a_text_message(connect: Connect) -> None:
    a, b = await connect("staff01"), await connect("staff02")
    conv_id = await direct(a, "staff02")
    sent = await send(a, conv_id, "明天开会")
    assert error_code(await b.call("msg:edit", {"msg_id": sent["id"], "text": "x"})) == \
        "forbidden"
    edited = (await a.ok("msg:edit", {"msg_id": sent["id"], "text": "后天开会"}))["message"]
    assert edited["text"] == "后天开会" and edited["edited_at"]
    assert (await b.wait_for("msg:edited"))["message"]["text"] == "后天开会"
    results = (await b.ok("msg:search", {"q": "后天"}))["results"]
    assert [r["message"]["id"] for r in results] == [sent["id"]]
    assert (await b.ok("msg:search", {"q": "明天"}))["results"] == []


def test_retention_below_seven_days_is_refused() -> None:
    import pytest

    from core.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="CHANGES_RETENTION"):
        load_config({"CHANGES_RETENTION": str(timedelta(days=6).total_seconds())})
