"""PROTOCOL §3 conversations: direct, group management, department groups, notifications,
history visibility, conv:list."""

from __future__ import annotations

import asyncio

from tests.chat_helpers import direct, error_code, group, send
from tests.conftest import Api, Connect, NodeFactory


async def test_a_direct_conversation_created_by_both_at_once_exists_once(
        connect: Connect) -> None:
    for peer in ("staff02", "staff03", "staff04"):
        a, b = await connect("staff01"), await connect(peer)
        first, second = await asyncio.gather(
            a.ok("conv:create", {"type": "direct", "members": [peer]}),
            b.ok("conv:create", {"type": "direct", "members": ["staff01"]}))
        assert first["conversation"]["id"] == second["conversation"]["id"]
        assert first["conversation"]["members"] == sorted(["staff01", peer])
        again = await a.ok("conv:create", {"type": "direct", "members": [peer]})
        assert again["conversation"]["id"] == first["conversation"]["id"]
        await send(b, first["conversation"]["id"], "both can write at once")
    listed = (await a.ok("conv:list", {}))["conversations"]
    assert sum(1 for c in listed if c["type"] == "direct") == 3


async def test_a_direct_conversation_needs_one_existing_other_person(connect: Connect) -> None:
    client = await connect("staff01")
    assert error_code(await client.call("conv:create", {"type": "direct",
                                                        "members": ["staff01"]})) == "bad_request"
    assert error_code(await client.call("conv:create", {"type": "direct",
                                                        "members": ["ghost"]})) == "not_found"


async def test_the_creator_owns_a_group_and_is_a_member_whether_listed_or_not(
        connect: Connect) -> None:
    owner = await connect("director")
    member = await connect("staff01")
    created = (await owner.ok("conv:create", {"type": "group", "title": "办公室",
                                              "members": ["staff01", "staff02"]}))["conversation"]
    assert created["owner_id"] == "director" and created["title"] == "办公室"
    assert created["members"] == ["director", "staff01", "staff02"]
    pushed = await member.wait_for("conv:new")
    assert pushed["conversation"]["id"] == created["id"]


async def test_only_the_owner_and_admins_manage_a_group(connect: Connect) -> None:
    owner, member, admin = (await connect("director"), await connect("staff01"),
                            await connect("staff02"))
    conv_id = await group(owner, ["staff01", "staff02"])
    for event, payload in [("conv:update", {"conv_id": conv_id, "title": "mine"}),
                           ("conv:members:add", {"conv_id": conv_id, "user_ids": ["staff03"]}),
                           ("conv:members:remove", {"conv_id": conv_id,
                                                    "user_ids": ["staff02"]}),
                           ("conv:dissolve", {"conv_id": conv_id}),
                           ("conv:admin", {"conv_id": conv_id, "user_id": "staff01"})]:
        assert error_code(await member.call(event, payload)) == "forbidden", event
    await owner.ok("conv:admin", {"conv_id": conv_id, "user_id": "staff02"})
    renamed = await admin.ok("conv:update", {"conv_id": conv_id, "title": "改名",
                                             "announcement": "周五开会"})
    assert renamed["conversation"]["title"] == "改名"
    assert renamed["conversation"]["announcement"] == "周五开会"
    update = await member.wait_for("conv:updated",
                                   lambda d: d["conversation"]["title"] == "改名")
    assert update["conversation"]["announcement"] == "周五开会"
    await admin.ok("conv:members:add", {"conv_id": conv_id, "user_ids": ["staff03"]})
    # An admin removes members but not the owner; only the owner removes admins or dissolves.
    assert error_code(await admin.call("conv:members:remove", {
        "conv_id": conv_id, "user_ids": ["director"]})) == "forbidden"
    assert error_code(await admin.call("conv:dissolve", {"conv_id": conv_id})) == "forbidden"
    await admin.ok("conv:members:remove", {"conv_id": conv_id, "user_ids": ["staff03"]})
    await owner.ok("conv:transfer", {"conv_id": conv_id, "user_id": "staff01"})
    after = (await owner.ok("conv:get", {"conv_id": conv_id}))["conversation"]
    assert after["owner_id"] == "staff01"


async def test_concurrent_member_changes_all_land(connect: Connect) -> None:
    owner, admin = await connect("director"), await connect("staff01")
    conv_id = await group(owner, ["staff01"])
    await owner.ok("conv:admin", {"conv_id": conv_id, "user_id": "staff01"})
    additions = [f"staff{n:02d}" for n in range(2, 12)]
    await asyncio.gather(*[
        (owner if i % 2 else admin).ok("conv:members:add", {"conv_id": conv_id,
                                                            "user_ids": [user]})
        for i, user in enumerate(additions)])
    members = (await owner.ok("conv:get", {"conv_id": conv_id}))["conversation"]["members"]
    assert set(members) == {"director", "staff01", *additions}


async def test_the_member_limit_holds_even_when_adds_race(start_node: NodeFactory,
                                                          connect: Connect) -> None:
    node = await start_node(chat_group_max_members=4)
    owner = await connect("director", on=node)
    conv_id = await group(owner, ["staff01"])
    replies = await asyncio.gather(*[
        owner.call("conv:members:add", {"conv_id": conv_id, "user_ids": [f"staff{n:02d}"]})
        for n in range(2, 8)])
    assert sum(r["ok"] for r in replies) == 2
    assert {r["error"]["code"] for r in replies if not r["ok"]} == {"too_large"}
    members = (await owner.ok("conv:get", {"conv_id": conv_id}))["conversation"]["members"]
    assert len(members) == 4
    too_many = await owner.call("conv:create", {"type": "group", "members": [
        "staff01", "staff02", "staff03", "staff04"]})
    assert error_code(too_many) == "too_large"


async def test_a_new_member_sees_history_from_joining_unless_the_group_opens_it(
        connect: Connect) -> None:
    owner = await connect("director")
    conv_id = await group(owner, ["staff01"])
    before = await send(owner, conv_id, "before you joined")
    await owner.ok("conv:members:add", {"conv_id": conv_id, "user_ids": ["staff02"]})
    after = await send(owner, conv_id, "after you joined")
    newcomer = await connect("staff02")
    history = (await newcomer.ok("msg:history", {"conv_id": conv_id}))["messages"]
    assert after["id"] in [m["id"] for m in history]
    assert before["id"] not in [m["id"] for m in history]
    synced = (await newcomer.ok("msg:sync", {"cursors": {conv_id: 0}}))["messages"]
    assert before["id"] not in [m["id"] for m in synced]
    assert error_code(await newcomer.call("msg:readers", {"msg_id": before["id"]})) == \
        "not_found"
    await owner.ok("conv:update", {"conv_id": conv_id, "open_history": True})
    history = (await newcomer.ok("msg:history", {"conv_id": conv_id}))["messages"]
    assert before["id"] in [m["id"] for m in history]


async def test_a_removed_member_loses_access_from_removal_on(connect: Connect) -> None:
    owner, leaver = await connect("director"), await connect("staff01")
    conv_id = await group(owner, ["staff01", "staff02"])
    await send(owner, conv_id, "while you were here")
    await owner.ok("conv:members:remove", {"conv_id": conv_id, "user_ids": ["staff01"]})
    removed = await leaver.wait_for("conv:removed")
    assert removed == {"conv_id": conv_id, "by": "director"}
    after = await send(owner, conv_id, "after you left")
    for event, payload in [("msg:history", {"conv_id": conv_id}),
                           ("msg:send", {"conv_id": conv_id, "client_msg_id": "z",
                                         "text": "let me in"})]:
        assert error_code(await leaver.call(event, payload)) == "forbidden"
    assert all(d["message"]["id"] != after["id"] for d in leaver.received("msg:new"))
    listed = (await leaver.ok("conv:list", {}))["conversations"]
    assert conv_id not in [c["id"] for c in listed]


async def test_members_leave_but_the_owner_must_transfer_first(connect: Connect) -> None:
    owner, member = await connect("director"), await connect("staff01")
    conv_id = await group(owner, ["staff01"])
    assert error_code(await owner.call("conv:leave", {"conv_id": conv_id})) == "forbidden"
    await member.ok("conv:leave", {"conv_id": conv_id})
    notice = await owner.wait_for("msg:new", lambda d: d["message"]["type"] == "system")
    assert notice["message"]["event"] == {"kind": "members_removed", "by": "staff01",
                                          "user_ids": ["staff01"]}


async def test_a_dissolved_group_keeps_its_history_but_takes_no_messages(
        connect: Connect) -> None:
    owner, member = await connect("director"), await connect("staff01")
    conv_id = await group(owner, ["staff01"])
    await send(member, conv_id, "last words")
    await owner.ok("conv:dissolve", {"conv_id": conv_id})
    assert await member.wait_for("conv:dissolved") == {"conv_id": conv_id, "by": "director"}
    reply = await member.call("msg:send", {"conv_id": conv_id, "client_msg_id": "late",
                                           "text": "hello?"})
    assert error_code(reply) == "forbidden"
    texts = [m["text"] for m in (await member.ok("msg:history", {"conv_id": conv_id}))[
        "messages"]]
    assert "last words" in texts


async def test_a_department_group_has_the_department_and_follows_the_directory(
        connect: Connect, api: Api) -> None:
    head = await connect("fin_head")
    assert error_code(await (await connect("staff06")).call("conv:create", {
        "type": "department", "dept_id": "finance"})) == "forbidden"
    created = (await head.ok("conv:create", {"type": "department",
                                             "dept_id": "finance"}))["conversation"]
    assert created["type"] == "department" and created["owner_id"] == "fin_head"
    assert set(created["members"]) == {"fin_head", *(f"staff{n:02d}" for n in range(6, 11))}
    again = await (await connect("admin")).ok("conv:create", {"type": "department",
                                                              "dept_id": "finance"})
    assert again["conversation"]["id"] == created["id"]

    # staff06 moves to planning: the finance group follows the directory.
    from core.directory.demo import demo_directory

    directory = demo_directory()
    for user in directory["users"]:
        if user["username"] == "staff06":
            user["dept_id"] = "planning"
    admin_token = await api.token("admin")
    status, _ = await api.call("POST", "/api/v1/directory/import", directory, token=admin_token)
    assert status == 200
    members = (await head.ok("conv:get", {"conv_id": created["id"]}))["conversation"]["members"]
    assert "staff06" not in members and "staff07" in members


async def test_everyone_has_one_work_notification_conversation(connect: Connect) -> None:
    client = await connect("staff01")
    listed = (await client.ok("conv:list", {}))["conversations"]
    notices = [c for c in listed if c["type"] == "notifications"]
    assert len(notices) == 1 and notices[0]["members"] == ["staff01"]
    again = (await client.ok("conv:list", {}))["conversations"]
    assert [c["id"] for c in again if c["type"] == "notifications"] == [notices[0]["id"]]
    reply = await client.call("msg:send", {"conv_id": notices[0]["id"], "client_msg_id": "n",
                                           "text": "not here"})
    assert error_code(reply) == "forbidden"


async def test_conv_list_shows_last_seq_unread_and_the_last_message(connect: Connect) -> None:
    a, b = await connect("staff01"), await connect("staff02")
    conv_id = await direct(a, "staff02")
    for n in range(3):
        await send(a, conv_id, f"第{n}条")
    await send(b, conv_id, "my own reply is not unread to me")
    await send(a, conv_id, "最后一条")

    def entry(listed: list[dict]) -> dict:  # type: ignore[type-arg]
        return next(c for c in listed if c["id"] == conv_id)

    mine = entry((await b.ok("conv:list", {}))["conversations"])
    assert mine["last_seq"] == 5 and mine["unread"] == 1  # sending read the three before
    assert mine["last_message"]["text"] == "最后一条"
    assert mine["last_message"]["sender_id"] == "staff01"
    await b.ok("msg:read", {"conv_id": conv_id, "seq": 5})
    assert entry((await b.ok("conv:list", {}))["conversations"])["unread"] == 0
    assert entry((await a.ok("conv:list", {}))["conversations"])["unread"] == 0
    await send(b, conv_id, "a new one for a")
    assert entry((await a.ok("conv:list", {}))["conversations"])["unread"] == 1
