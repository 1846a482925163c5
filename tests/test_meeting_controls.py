"""Host controls and raised hands through the real socket (PROTOCOL §6): mute stops the
server forwarding a participant's audio, remove puts them out for good, a lock keeps
newcomers out, the host role can be handed over, and only hosts may do any of it."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Connect
from tests.media_helpers import MediaPeer
from tests.test_meetings import create_meeting, meeting_of_two, wait_until


async def video_seconds(listener: MediaPeer, speaker: MediaPeer, seconds: float) -> None:
    """Let `seconds` of `speaker`'s video reach `listener`: time passing with media flowing."""
    assert speaker.session_id is not None
    target = listener.video_frames_from(speaker.session_id) + int(seconds * 30)
    session_id = speaker.session_id
    await wait_until(lambda: listener.video_frames_from(session_id) >= target,
                     timeout=seconds * 4 + 5)


def participant(push: dict[str, Any], session_id: str | None) -> dict[str, Any]:
    """One device in a `meeting:participants` push ({} when that push predates it)."""
    return next((p for p in push["participants"] if p["session_id"] == session_id), {})


async def test_a_muted_participant_is_not_forwarded_until_the_host_lets_them_speak_again(
        connect: Connect) -> None:
    async with meeting_of_two(connect) as (meeting_id, chief, clerk):
        done = await chief.client.ok("meeting:mute", {"meeting_id": meeting_id,
                                                      "user_id": "clerk"})
        assert done["meeting"]["muted"] == ["clerk"]
        told = await clerk.client.wait_for("meeting:muted", lambda d: d["muted"] is True)
        assert told["meeting_id"] == meeting_id
        listing = await chief.client.wait_for(
            "meeting:participants",
            lambda d: participant(d, clerk.session_id).get("muted") is True)
        assert participant(listing, chief.session_id)["muted"] is False
        assert clerk.session_id is not None
        await video_seconds(chief, clerk, 0.5)  # what was in flight has arrived
        heard = chief.audio_frames_from(clerk.session_id)
        await video_seconds(chief, clerk, 1.5)
        assert chief.audio_frames_from(clerk.session_id) - heard <= 2

        await chief.client.ok("meeting:mute", {"meeting_id": meeting_id, "user_id": "clerk",
                                               "muted": False})
        await clerk.client.wait_for("meeting:muted", lambda d: d["muted"] is False)
        await chief.hear(clerk.session_id, 25)


async def test_a_muted_user_stays_muted_when_they_join_again(connect: Connect) -> None:
    async with meeting_of_two(connect) as (meeting_id, chief, clerk):
        await chief.client.ok("meeting:mute", {"meeting_id": meeting_id, "user_id": "clerk"})
        await clerk.client.ok("meeting:leave", {"meeting_id": meeting_id})
        again = await clerk.client.ok("meeting:join", {"meeting_id": meeting_id})
        me = next(p for p in again["participants"] if p["session_id"] == again["session_id"])
        assert me["muted"] is True


async def test_only_a_host_may_mute_remove_lock_or_hand_over(connect: Connect) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["clerk", "staff01"])
    attempts = [("meeting:mute", {"user_id": "staff01"}),
                ("meeting:remove", {"user_id": "staff01"}),
                ("meeting:lock", {}),
                ("meeting:host", {"user_id": "staff01"})]
    for event, args in attempts:
        refused = await clerk.call(event, {"meeting_id": meeting_id, **args})
        assert refused["error"]["code"] == "forbidden", event
    meeting = (await chief.ok("meeting:lock", {"meeting_id": meeting_id,
                                               "locked": False}))["meeting"]
    assert meeting["hosts"] == ["chief"] and meeting["removed"] == [] and meeting["muted"] == []


async def test_controls_aimed_at_someone_outside_the_meeting_are_bad_requests(
        connect: Connect) -> None:
    chief = await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk"])
    for event in ("meeting:mute", "meeting:remove", "meeting:host"):
        refused = await chief.call(event, {"meeting_id": meeting_id, "user_id": "staff09"})
        assert refused["error"]["code"] == "bad_request", event
    malformed = await chief.call("meeting:mute", {"meeting_id": meeting_id, "user_id": ""})
    assert malformed["error"]["code"] == "bad_request"


async def test_a_removed_participant_is_put_out_and_cannot_come_back(connect: Connect) -> None:
    async with meeting_of_two(connect) as (meeting_id, chief, clerk):
        await chief.client.ok("meeting:remove", {"meeting_id": meeting_id, "user_id": "clerk"})
        await clerk.client.wait_for("meeting:removed", lambda d: d["meeting_id"] == meeting_id)
        await chief.client.wait_for(
            "meeting:participants",
            lambda d: [p["user_id"] for p in d["participants"]] == ["chief"])
        updated = await clerk.client.wait_for("meeting:updated")
        assert updated["meeting"]["removed"] == ["clerk"]
        for event in ("meeting:join", "rtc:offer", "meeting:checkin"):
            args = {"rtc:offer": {"sdp": "v=0"}, "meeting:checkin": {"via": "meeting"}}.get(
                event, {})
            refused = await clerk.client.call(event, {"meeting_id": meeting_id, **args})
            assert refused["error"]["code"] == "forbidden", event
        assert "removed" in refused["error"]["message"]


async def test_a_host_cannot_be_removed_or_muted_by_another_host(connect: Connect) -> None:
    chief, deputy = await connect("chief"), await connect("deputy")
    meeting_id = await create_meeting(chief, ["deputy", "clerk"])
    await chief.ok("meeting:host", {"meeting_id": meeting_id, "user_id": "deputy",
                                    "keep": True})
    for event in ("meeting:remove", "meeting:mute"):
        refused = await deputy.call(event, {"meeting_id": meeting_id, "user_id": "chief"})
        assert refused["error"]["code"] == "forbidden", event


async def test_a_locked_meeting_keeps_newcomers_out_but_not_hosts_or_those_inside(
        connect: Connect) -> None:
    async with meeting_of_two(connect, also_invited=("deputy",)) as (meeting_id, chief, clerk):
        deputy = await connect("deputy")
        await chief.client.ok("meeting:host", {"meeting_id": meeting_id, "user_id": "deputy",
                                               "keep": True})
        locked = await chief.client.ok("meeting:lock", {"meeting_id": meeting_id})
        assert locked["meeting"]["locked"] is True
        await clerk.client.wait_for("meeting:updated", lambda d: d["meeting"]["locked"])
        again = await chief.client.ok("meeting:lock", {"meeting_id": meeting_id})
        assert again["meeting"]["locked"] is True  # asking twice is not an error
        assert (await deputy.ok("meeting:join", {"meeting_id": meeting_id}))["session_id"]
        await clerk.offer()  # those inside renegotiate as before
        await chief.client.ok("meeting:lock", {"meeting_id": meeting_id, "locked": False})


async def test_an_invitee_is_refused_only_while_the_meeting_is_locked(connect: Connect) -> None:
    chief, staff = await connect("chief"), await connect("staff01")
    meeting_id = await create_meeting(chief, ["staff01"])
    await chief.ok("meeting:lock", {"meeting_id": meeting_id})
    refused = await staff.call("meeting:join", {"meeting_id": meeting_id})
    assert refused["error"] == {"code": "forbidden", "message": "the meeting is locked"}
    await chief.ok("meeting:lock", {"meeting_id": meeting_id, "locked": False})
    assert (await staff.ok("meeting:join", {"meeting_id": meeting_id}))["session_id"]


async def test_handing_over_makes_the_new_host_the_only_one_who_can_act(
        connect: Connect) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["clerk", "staff01"])
    await chief.ok("meeting:mute", {"meeting_id": meeting_id, "user_id": "clerk"})
    handed = await chief.ok("meeting:host", {"meeting_id": meeting_id, "user_id": "clerk"})
    assert handed["meeting"]["hosts"] == ["clerk"]
    assert handed["meeting"]["muted"] == []  # a host speaks
    told = await clerk.wait_for("meeting:updated", lambda d: d["meeting"]["hosts"] == ["clerk"])
    assert told["meeting"]["organiser"] == "chief"
    refused = await chief.call("meeting:lock", {"meeting_id": meeting_id})
    assert refused["error"]["code"] == "forbidden"
    assert (await clerk.ok("meeting:lock", {"meeting_id": meeting_id}))["meeting"]["locked"]


async def test_two_hosts_muting_and_unmuting_at_once_leave_record_and_media_agreeing(
        connect: Connect, node: Any) -> None:
    async with meeting_of_two(connect, also_invited=("deputy",)) as (meeting_id, chief, clerk):
        deputy = await connect("deputy")
        await chief.client.ok("meeting:host", {"meeting_id": meeting_id, "user_id": "deputy",
                                               "keep": True})
        for _ in range(5):
            replies = await asyncio.gather(
                chief.client.call("meeting:mute", {"meeting_id": meeting_id,
                                                   "user_id": "clerk", "muted": True}),
                deputy.call("meeting:mute", {"meeting_id": meeting_id,
                                             "user_id": "clerk", "muted": False}))
            assert all(r["ok"] for r in replies), replies
            record = await chief.client.ok("meeting:lock", {"meeting_id": meeting_id,
                                                            "locked": False})
            muted = "clerk" in record["meeting"]["muted"]
            device = node.services.media.sfu.meetings[meeting_id].participants[clerk.session_id]
            await wait_until(lambda device=device, muted=muted: device.muted == muted)


async def test_concurrent_hand_overs_never_leave_a_meeting_without_a_host(
        connect: Connect) -> None:
    chief, deputy = await connect("chief"), await connect("deputy")
    meeting_id = await create_meeting(chief, ["deputy", "clerk", "staff01"])
    await chief.ok("meeting:host", {"meeting_id": meeting_id, "user_id": "deputy",
                                    "keep": True})
    replies = await asyncio.gather(
        chief.call("meeting:host", {"meeting_id": meeting_id, "user_id": "clerk"}),
        deputy.call("meeting:host", {"meeting_id": meeting_id, "user_id": "staff01"}))
    assert all(r["ok"] for r in replies), replies
    final = (await (await connect("clerk")).ok(
        "meeting:lock", {"meeting_id": meeting_id, "locked": False}))["meeting"]
    assert sorted(final["hosts"]) == ["clerk", "staff01"]


async def test_a_raised_hand_shows_to_everyone_and_a_host_can_lower_it(
        connect: Connect) -> None:
    async with meeting_of_two(connect) as (meeting_id, chief, clerk):
        await clerk.client.ok("meeting:hand", {"meeting_id": meeting_id})
        shown = await chief.client.wait_for(
            "meeting:participants",
            lambda d: participant(d, clerk.session_id).get("hand_raised") is True)
        assert participant(shown, chief.session_id)["hand_raised"] is False
        refused = await clerk.client.call("meeting:hand", {"meeting_id": meeting_id,
                                                           "raised": False,
                                                           "user_id": "chief"})
        assert refused["error"]["code"] == "forbidden"
        raising_another = await chief.client.call(
            "meeting:hand", {"meeting_id": meeting_id, "user_id": "clerk"})
        assert raising_another["error"]["code"] == "bad_request"
        await chief.client.ok("meeting:hand", {"meeting_id": meeting_id, "raised": False,
                                               "user_id": "clerk"})
        await clerk.client.wait_for(
            "meeting:participants",
            lambda d: participant(d, clerk.session_id).get("hand_raised") is False)


async def test_controls_after_the_meeting_ended_are_gone(connect: Connect) -> None:
    chief = await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk"])
    await chief.ok("meeting:end", {"meeting_id": meeting_id})
    refused = await chief.call("meeting:mute", {"meeting_id": meeting_id, "user_id": "clerk"})
    assert refused["error"]["code"] == "gone"
