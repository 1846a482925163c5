"""Votes (表决) in paperless meetings through the real socket: a host opens a motion, members
vote once each, a host closes it and everyone invited hears the result; how votes racing each
other and racing the close are settled (meetings/votes.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from core.errors import Conflict
from meetings.votes import CLAIM_LEASE, Motion, MotionStore, VoteService
from signaling.app import Node
from tests.conftest import Client, Connect
from tests.test_meetings import create_meeting

STAFF = [f"staff{n:02d}" for n in range(1, 21)]
YES_NO = ["同意", "反对", "弃权"]


async def open_motion(host: Client, meeting_id: str, rule: str = "simple_majority",
                      anonymous: bool = False, options: list[str] | None = None) -> str:
    opened = await host.ok("meeting:motion:open", {
        "meeting_id": meeting_id, "title": "关于调整办公时间的议案",
        "options": options or YES_NO, "rule": rule, "anonymous": anonymous})
    return str(opened["motion"]["id"])


async def vote(client: Client, motion_id: str, option: str) -> dict[str, Any]:
    return await client.call("meeting:vote", {"motion_id": motion_id, "option": option})


def code(reply: dict[str, Any]) -> str | None:
    return None if reply["ok"] else str(reply["error"]["code"])


def counts(result: dict[str, Any]) -> dict[str, int]:
    return {row["option"]: row["count"] for row in result["counts"]}


async def members(connect: Connect, usernames: list[str]) -> list[Client]:
    return list(await asyncio.gather(*(connect(name) for name in usernames)))


async def test_host_opens_members_vote_and_everyone_hears_the_simple_majority_winner(
        connect: Connect) -> None:
    chief, deputy, director, clerk = await members(
        connect, ["chief", "deputy", "director", "clerk"])
    meeting_id = await create_meeting(chief, ["deputy", "director", "clerk", "staff01"])
    motion_id = await open_motion(chief, meeting_id)
    pushed = await clerk.wait_for("meeting:motion")
    assert pushed["motion"]["id"] == motion_id
    assert pushed["motion"]["status"] == "open" and pushed["motion"]["options"] == YES_NO
    for client, option in ((chief, "同意"), (deputy, "同意"), (director, "同意"),
                           (clerk, "反对")):
        assert await client.ok("meeting:vote", {"motion_id": motion_id, "option": option}) == {}
    closed = await chief.ok("meeting:motion:close", {"motion_id": motion_id})
    result = closed["result"]
    assert counts(result) == {"同意": 3, "反对": 1, "弃权": 0}
    assert result["cast"] == 4 and result["members"] == 5 and result["winner"] == "同意"
    assert closed["motion"]["status"] == "closed" and closed["motion"]["closed_by"] == "chief"
    heard = await clerk.wait_for("meeting:motion:result")
    assert heard["result"] == result and heard["motion"]["id"] == motion_id
    assert {(b["user_id"], b["option"]) for b in result["ballots"]} == {
        ("chief", "同意"), ("deputy", "同意"), ("director", "同意"), ("clerk", "反对")}


async def test_two_thirds_carries_at_exactly_two_thirds_and_fails_below(
        connect: Connect) -> None:
    chief, deputy, director = await members(connect, ["chief", "deputy", "director"])
    meeting_id = await create_meeting(chief, ["deputy", "director"])
    carried = await open_motion(chief, meeting_id, rule="two_thirds")
    failed = await open_motion(chief, meeting_id, rule="two_thirds")
    for client, option in ((chief, "同意"), (deputy, "同意"), (director, "反对")):
        await client.ok("meeting:vote", {"motion_id": carried, "option": option})
    for client, option in ((chief, "同意"), (deputy, "反对"), (director, "弃权")):
        await client.ok("meeting:vote", {"motion_id": failed, "option": option})
    two_of_three = (await chief.ok("meeting:motion:close", {"motion_id": carried}))["result"]
    assert two_of_three["winner"] == "同意" and two_of_three["cast"] == 3
    one_of_three = (await chief.ok("meeting:motion:close", {"motion_id": failed}))["result"]
    assert one_of_three["winner"] is None
    assert counts(one_of_three) == {"同意": 1, "反对": 1, "弃权": 1}


async def test_a_simple_majority_tie_has_no_winner_and_a_two_thirds_miss_has_none_either(
        connect: Connect) -> None:
    chief, deputy, director, clerk = await members(
        connect, ["chief", "deputy", "director", "clerk"])
    meeting_id = await create_meeting(chief, ["deputy", "director", "clerk"])
    tie = await open_motion(chief, meeting_id)
    short = await open_motion(chief, meeting_id, rule="two_thirds")
    for client, option in ((chief, "同意"), (deputy, "同意"), (director, "反对"),
                           (clerk, "反对")):
        await client.ok("meeting:vote", {"motion_id": tie, "option": option})
    for client, option in ((chief, "同意"), (deputy, "同意"), (director, "反对"),
                           (clerk, "弃权")):
        await client.ok("meeting:vote", {"motion_id": short, "option": option})
    tied = (await chief.ok("meeting:motion:close", {"motion_id": tie}))["result"]
    assert counts(tied) == {"同意": 2, "反对": 2, "弃权": 0} and tied["winner"] is None
    half = (await chief.ok("meeting:motion:close", {"motion_id": short}))["result"]
    assert counts(half)["同意"] == 2 and half["cast"] == 4 and half["winner"] is None


async def test_a_motion_nobody_voted_on_closes_with_no_winner(connect: Connect) -> None:
    chief = await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk"])
    motion_id = await open_motion(chief, meeting_id, rule="two_thirds")
    result = (await chief.ok("meeting:motion:close", {"motion_id": motion_id}))["result"]
    assert result["cast"] == 0 and result["members"] == 2 and result["winner"] is None


async def test_an_anonymous_motion_shows_counts_but_never_who_voted_for_what(
        connect: Connect, node: Node) -> None:
    chief, clerk = await members(connect, ["chief", "clerk"])
    meeting_id = await create_meeting(chief, ["clerk"])
    motion_id = await open_motion(chief, meeting_id, anonymous=True)
    await chief.ok("meeting:vote", {"motion_id": motion_id, "option": "同意"})
    await clerk.ok("meeting:vote", {"motion_id": motion_id, "option": "反对"})
    closed = await chief.ok("meeting:motion:close", {"motion_id": motion_id})
    assert closed["result"]["ballots"] is None
    assert counts(closed["result"]) == {"同意": 1, "反对": 1, "弃权": 0}
    assert (await clerk.wait_for("meeting:motion:result"))["result"]["ballots"] is None
    listed = (await clerk.ok("meeting:motions", {"meeting_id": meeting_id}))["motions"]
    assert listed[0]["result"]["ballots"] is None
    stored = await node.db["motions"].find_one({"_id": motion_id})
    assert stored is not None and stored["votes"] == []
    assert "option" not in str(await node.db["motion_ballots"].find_one({}))


async def test_while_open_members_see_how_many_voted_but_not_the_split(
        connect: Connect) -> None:
    chief, clerk = await members(connect, ["chief", "clerk"])
    meeting_id = await create_meeting(chief, ["clerk", "deputy"])
    motion_id = await open_motion(chief, meeting_id)
    await clerk.ok("meeting:vote", {"motion_id": motion_id, "option": "反对"})
    [listed] = (await clerk.ok("meeting:motions", {"meeting_id": meeting_id}))["motions"]
    assert listed["status"] == "open" and listed["cast"] == 1 and listed["result"] is None
    await chief.ok("meeting:motion:close", {"motion_id": motion_id})
    [after] = (await clerk.ok("meeting:motions", {"meeting_id": meeting_id}))["motions"]
    assert after["status"] == "closed" and counts(after["result"])["反对"] == 1


async def test_a_second_vote_is_a_conflict_and_changes_nothing(connect: Connect) -> None:
    chief, clerk = await members(connect, ["chief", "clerk"])
    meeting_id = await create_meeting(chief, ["clerk"])
    motion_id = await open_motion(chief, meeting_id)
    await clerk.ok("meeting:vote", {"motion_id": motion_id, "option": "同意"})
    again = await vote(clerk, motion_id, "反对")
    assert code(again) == "conflict" and "already voted" in again["error"]["message"]
    result = (await chief.ok("meeting:motion:close", {"motion_id": motion_id}))["result"]
    assert counts(result) == {"同意": 1, "反对": 0, "弃权": 0}


async def test_two_concurrent_votes_by_one_member_count_once(connect: Connect) -> None:
    chief = await connect("chief")
    phone, desktop = await connect("clerk"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["clerk"])
    motion_id = await open_motion(chief, meeting_id)
    replies = await asyncio.gather(vote(phone, motion_id, "同意"),
                                   vote(desktop, motion_id, "反对"))
    assert sorted(str(code(r)) for r in replies) == ["None", "conflict"]
    winner = "同意" if replies[0]["ok"] else "反对"
    result = (await chief.ok("meeting:motion:close", {"motion_id": motion_id}))["result"]
    assert result["cast"] == 1 and counts(result)[winner] == 1
    assert result["ballots"] == [{"user_id": "clerk", "option": winner}]


async def test_twenty_members_voting_at_once_are_all_counted(connect: Connect) -> None:
    chief = await connect("chief")
    staff = await members(connect, STAFF)
    meeting_id = await create_meeting(chief, STAFF)
    motion_id = await open_motion(chief, meeting_id, rule="two_thirds")
    choices = ["同意" if i < 14 else "反对" for i in range(len(staff))]
    replies = await asyncio.gather(*(vote(c, motion_id, o) for c, o in zip(staff, choices,
                                                                              strict=True)))
    assert all(r["ok"] for r in replies), replies
    result = (await chief.ok("meeting:motion:close", {"motion_id": motion_id}))["result"]
    assert counts(result) == {"同意": 14, "反对": 6, "弃权": 0}
    assert result["cast"] == 20 and result["members"] == 21 and result["winner"] == "同意"
    assert {b["user_id"] for b in result["ballots"]} == set(STAFF)


async def test_votes_racing_a_close_are_counted_or_refused_never_lost_or_counted_after(
        connect: Connect, node: Node) -> None:
    chief = await connect("chief")
    staff = await members(connect, STAFF)
    meeting_id = await create_meeting(chief, STAFF)
    for _ in range(3):
        motion_id = await open_motion(chief, meeting_id)
        votes = [asyncio.create_task(vote(c, motion_id, "同意")) for c in staff]
        # Closing once the first vote is in puts the close amid the others.
        await asyncio.wait(votes, return_when=asyncio.FIRST_COMPLETED)
        closed = await chief.call("meeting:motion:close", {"motion_id": motion_id})
        replies = await asyncio.gather(*votes)
        assert closed["ok"], closed
        accepted = {name for name, r in zip(STAFF, replies, strict=True) if r["ok"]}
        refused = [r for r in replies if not r["ok"]]
        assert all(code(r) == "conflict" and "closed" in r["error"]["message"]
                   for r in refused), refused
        result = closed["data"]["result"]
        assert {b["user_id"] for b in result["ballots"]} == accepted
        assert result["cast"] == len(accepted) == counts(result)["同意"]
        [listed] = [m for m in (await chief.ok("meeting:motions", {"meeting_id": meeting_id}))[
            "motions"] if m["id"] == motion_id]
        assert listed["result"] == result
        ballots = await node.db["motion_ballots"].count_documents({"motion_id": motion_id})
        assert ballots == len(accepted)


class GatedStore(MotionStore):
    """Holds each vote between its claim and its count until the test lets it go on."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.claimed = asyncio.Event()
        self.proceed = asyncio.Event()

    async def count_vote(self, motion: Motion, user_id: str, index: int) -> bool:
        self.claimed.set()
        await self.proceed.wait()
        return await super().count_vote(motion, user_id, index)


async def test_a_vote_claimed_before_the_close_but_counted_after_is_refused_and_released(
        connect: Connect, node: Node) -> None:
    chief = await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk", "deputy"])
    motion_id = await open_motion(chief, meeting_id)
    await chief.ok("meeting:vote", {"motion_id": motion_id, "option": "反对"})
    store = GatedStore(node.db)
    votes = VoteService(store, node.services.meetings, node.clock)
    late = asyncio.create_task(votes.vote("clerk", motion_id, "同意"))
    await store.claimed.wait()
    result = (await chief.ok("meeting:motion:close", {"motion_id": motion_id}))["result"]
    store.proceed.set()
    try:
        await late
        raise AssertionError("a vote counted after the close")
    except Conflict as refused:
        assert "closed" in refused.message
    assert counts(result) == {"同意": 0, "反对": 1, "弃权": 0}
    [listed] = (await chief.ok("meeting:motions", {"meeting_id": meeting_id}))["motions"]
    assert listed["result"] == result
    assert await node.db["motion_ballots"].find_one({"_id": f"{motion_id}|clerk"}) is None


async def test_a_claim_left_by_a_dead_node_is_taken_over_after_the_lease_never_twice(
        connect: Connect, node: Node) -> None:
    chief, clerk = await members(connect, ["chief", "clerk"])
    meeting_id = await create_meeting(chief, ["clerk", "deputy"])
    motion_id = await open_motion(chief, meeting_id)
    now = node.clock.time()
    ballots = node.db["motion_ballots"]
    await ballots.insert_one({"_id": f"{motion_id}|clerk", "motion_id": motion_id,
                              "user_id": "clerk", "claim": "dead", "at": now})
    await ballots.insert_one({"_id": f"{motion_id}|deputy", "motion_id": motion_id,
                              "user_id": "deputy", "claim": "dead",
                              "at": now - CLAIM_LEASE - 1})
    deputy = await connect("deputy")
    assert code(await vote(clerk, motion_id, "同意")) == "conflict"
    await deputy.ok("meeting:vote", {"motion_id": motion_id, "option": "同意"})
    assert code(await vote(deputy, motion_id, "反对")) == "conflict"
    # Counted long ago: the claim is taken over again, and the count refuses a second vote.
    await ballots.update_one({"_id": f"{motion_id}|deputy"},
                             {"$set": {"at": now - CLAIM_LEASE - 1}})
    twice = await vote(deputy, motion_id, "反对")
    assert code(twice) == "conflict" and "already voted" in twice["error"]["message"]
    assert await ballots.find_one({"_id": f"{motion_id}|deputy"}) is not None
    result = (await chief.ok("meeting:motion:close", {"motion_id": motion_id}))["result"]
    assert result["ballots"] == [{"user_id": "deputy", "option": "同意"}]


async def test_only_hosts_open_and_close_motions(connect: Connect) -> None:
    chief, clerk = await members(connect, ["chief", "clerk"])
    meeting_id = await create_meeting(chief, ["clerk"])
    refused = await clerk.call("meeting:motion:open", {
        "meeting_id": meeting_id, "title": "t", "options": YES_NO, "rule": "two_thirds"})
    assert code(refused) == "forbidden"
    motion_id = await open_motion(chief, meeting_id)
    assert code(await clerk.call("meeting:motion:close", {"motion_id": motion_id})) == (
        "forbidden")
    await chief.ok("meeting:motion:close", {"motion_id": motion_id})
    again = await chief.call("meeting:motion:close", {"motion_id": motion_id})
    assert code(again) == "conflict"


async def test_two_hosts_closing_at_once_close_it_once(connect: Connect) -> None:
    chief, chief_again = await connect("chief"), await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk"])
    motion_id = await open_motion(chief, meeting_id)
    replies = await asyncio.gather(*(c.call("meeting:motion:close", {"motion_id": motion_id})
                                     for c in (chief, chief_again)))
    assert sorted(str(code(r)) for r in replies) == ["None", "conflict"]


async def test_non_members_neither_vote_nor_list_and_unknown_motions_are_not_found(
        connect: Connect) -> None:
    chief, outsider = await members(connect, ["chief", "staff09"])
    meeting_id = await create_meeting(chief, ["clerk"], open=True)
    motion_id = await open_motion(chief, meeting_id)
    assert code(await vote(outsider, motion_id, "同意")) == "forbidden"
    listing = await outsider.call("meeting:motions", {"meeting_id": meeting_id})
    assert code(listing) == "forbidden"
    assert code(await vote(chief, "mot_nope", "同意")) == "not_found"
    assert code(await chief.call("meeting:motion:close", {"motion_id": "mot_nope"})) == (
        "not_found")
    assert code(await chief.call("meeting:motions", {"meeting_id": "mtg_nope"})) == "not_found"


async def test_a_closed_motion_refuses_votes_and_an_ended_meeting_refuses_motions(
        connect: Connect) -> None:
    chief, clerk = await members(connect, ["chief", "clerk"])
    meeting_id = await create_meeting(chief, ["clerk"])
    motion_id = await open_motion(chief, meeting_id)
    await chief.ok("meeting:motion:close", {"motion_id": motion_id})
    late = await vote(clerk, motion_id, "同意")
    assert code(late) == "conflict" and "closed" in late["error"]["message"]
    await chief.ok("meeting:end", {"meeting_id": meeting_id})
    ended = await chief.call("meeting:motion:open", {
        "meeting_id": meeting_id, "title": "t", "options": YES_NO, "rule": "two_thirds"})
    assert code(ended) == "gone"


async def test_bad_input_is_a_bad_request_naming_the_field(connect: Connect) -> None:
    chief = await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk"])
    base = {"meeting_id": meeting_id, "title": "t", "options": YES_NO, "rule": "two_thirds"}
    for field, bad in (("options", ["同意"]), ("options", ["同意", "同意"]),
                       ("options", ["同意", " "]), ("options", [str(i) for i in range(11)]),
                       ("rule", "unanimous"),
                       ("anonymous", "yes"), ("title", "")):
        reply = await chief.call("meeting:motion:open", {**base, field: bad})
        assert code(reply) == "bad_request", (field, bad, reply)
        assert reply["error"]["message"].startswith(field), reply
    assert code(await chief.call("meeting:motion:open", {**base, "extra": 1})) == "bad_request"
    motion_id = await open_motion(chief, meeting_id)
    unknown = await vote(chief, motion_id, "也许")
    assert code(unknown) == "bad_request" and unknown["error"]["message"].startswith("option")
    assert code(await chief.call("meeting:vote", {"motion_id": motion_id})) == "bad_request"
    [listed] = (await chief.ok("meeting:motions", {"meeting_id": meeting_id}))["motions"]
    assert listed["cast"] == 0
