"""Video meetings through the real socket (PROTOCOL §6): who may join, WebRTC signalling with
server-pushed offers, and media forwarded between aiortc peers on loopback without the
server decoding or encoding a frame."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.conftest import Connect
from tests.media_helpers import MediaPeer


async def create_meeting(client: Any, invitees: list[str], **extra: Any) -> str:
    created = await client.ok("meeting:create", {"title": "周例会", "invitees": invitees, **extra})
    return str(created["meeting"]["id"])


async def test_two_participants_receive_each_others_video_and_audio_forwarded_not_decoded(
        connect: Connect, node: Any) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["clerk"])
    peers = [MediaPeer(chief, meeting_id), MediaPeer(clerk, meeting_id)]
    try:
        for peer in peers:
            peer.publish()
            joined = await peer.join()
            assert joined["media_node"] == node.config.node_id
            await peer.offer()
        for peer in peers:
            await peer.frames_of(kind_count=2, at_least=30)
        chief_peer, clerk_peer = peers
        assert clerk_peer.remote_stream_ids() == {f"chief.{chief_peer.session_id}"}
        assert chief_peer.remote_stream_ids() == {f"clerk.{clerk_peer.session_id}"}
        await assert_forwarded_without_decoding(node)
        listing = clerk.received("meeting:participants")[-1]["participants"]
        by_session = {p["session_id"]: p for p in listing}
        sources = sorted(t["source"] for t in by_session[chief_peer.session_id]["tracks"])
        assert sources == ["camera", "microphone"]
    finally:
        for peer in peers:
            await peer.close()


async def assert_forwarded_without_decoding(node: Any) -> None:
    """Media went out, and the server decoded and encoded no frame (its counters and
    /metrics agree)."""
    stats = node.services.media.sfu.stats
    assert stats.packets_out > 100
    assert stats.frames_decoded == 0 and stats.frames_encoded == 0
    metrics = await metrics_text(node)
    assert "xietong_media_frames_decoded 0.0" in metrics
    assert "xietong_media_frames_encoded 0.0" in metrics


async def metrics_text(node: Any) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{node.url}/metrics") as r:
        return await r.text()


async def wait_until(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def meeting_of_two(connect: Connect, also_invited: tuple[str, ...] = ()
                         ) -> AsyncIterator[tuple[str, MediaPeer, MediaPeer]]:
    """chief and clerk in one meeting, each publishing and receiving the other's media (and
    `also_invited` invited, not there yet)."""
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["clerk", *also_invited])
    peers = MediaPeer(chief, meeting_id), MediaPeer(clerk, meeting_id)
    try:
        for peer in peers:
            peer.publish()
            await peer.join()
            await peer.offer()
        for peer in peers:
            await peer.frames_of(kind_count=2, at_least=5)
        yield meeting_id, peers[0], peers[1]
    finally:
        for peer in peers:
            await peer.close()


async def test_only_the_organiser_hosts_and_invitees_join_a_closed_meeting(
        connect: Connect) -> None:
    chief, staff = await connect("chief"), await connect("staff01")
    closed = await create_meeting(chief, ["clerk"])
    refused = await staff.call("meeting:join", {"meeting_id": closed})
    assert refused["error"]["code"] == "forbidden"
    opened = await create_meeting(chief, [], open=True)
    assert (await staff.ok("meeting:join", {"meeting_id": opened}))["session_id"]
    missing = await staff.call("meeting:join", {"meeting_id": "mtg_nope"})
    assert missing["error"]["code"] == "not_found"
    ended = await chief.ok("meeting:end", {"meeting_id": opened})
    assert ended["meeting"]["status"] == "ended"
    assert (await staff.wait_for("meeting:ended"))["meeting_id"] == opened
    again = await staff.call("meeting:join", {"meeting_id": opened})
    assert again["error"]["code"] == "gone"
    not_host = await staff.call("meeting:end", {"meeting_id": closed})
    assert not_host["error"]["code"] == "forbidden"


async def test_unknown_invitees_and_unusable_sdp_are_bad_requests_that_lose_nothing(
        connect: Connect) -> None:
    chief = await connect("chief")
    unknown = await chief.call("meeting:create", {"title": "x", "invitees": ["nobody"]})
    assert unknown["error"]["code"] == "bad_request"
    meeting_id = await create_meeting(chief, [])
    early = await chief.call("rtc:offer", {"meeting_id": meeting_id, "sdp": "v=0"})
    assert early["error"]["code"] == "not_found"
    peer = MediaPeer(chief, meeting_id)
    try:
        peer.publish()
        await peer.join()
        bogus = await chief.call("rtc:offer", {"meeting_id": meeting_id, "sdp": "v=0\r\nm=x"})
        assert bogus["error"]["code"] == "bad_request"
        assert (await peer.offer())["sdp"].startswith("v=0")
    finally:
        await peer.close()


async def test_a_client_offer_crossing_a_pushed_offer_is_a_conflict_until_answered(
        connect: Connect) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["clerk"])
    host, late = MediaPeer(chief, meeting_id), MediaPeer(clerk, meeting_id)
    try:
        host.publish()
        await host.join()
        await host.offer()
        late.publish()
        await late.join(answer_pushed=False)
        await late.offer()
        pushed = await clerk.wait_for("rtc:offer")
        crossing = (await late.pc.createOffer()).sdp
        refused = await clerk.call("rtc:offer", {"meeting_id": meeting_id, "sdp": crossing})
        assert refused["error"]["code"] == "conflict"
        await late._answer(pushed["sdp"])
        stray = await clerk.call("rtc:answer", {"meeting_id": meeting_id,
                                                "sdp": late.pc.localDescription.sdp})
        assert stray["error"]["code"] == "conflict"
        await late.frames_of(kind_count=2, at_least=10)
    finally:
        await host.close()
        await late.close()


async def test_last_n_zero_stops_camera_video_and_all_brings_it_back(
        connect: Connect) -> None:
    async with meeting_of_two(connect) as (meeting_id, chief, clerk):
        assert chief.session_id is not None
        await clerk.client.ok("meeting:subscribe", {"meeting_id": meeting_id,
                                                    "video": {"last_n": 0}})
        await clerk.hear(chief.session_id, 10)
        before = clerk.video_frames_from(chief.session_id)
        await clerk.hear(chief.session_id, 50)  # a second of audio, and no video
        assert clerk.video_frames_from(chief.session_id) - before <= 2
        await clerk.client.ok("meeting:subscribe", {"meeting_id": meeting_id, "video": "all"})
        resumed = clerk.video_frames_from(chief.session_id)
        await wait_until(lambda: clerk.video_frames_from(chief.session_id) > resumed + 15)


async def test_picture_loss_from_a_subscriber_reaches_the_publisher_throttled(
        connect: Connect, node: Any) -> None:
    async with meeting_of_two(connect) as (_meeting_id, chief, clerk):
        stats = node.services.media.sfu.stats
        receiver, ssrc = clerk.receiver_of(f"chief.{chief.session_id}", "video")
        assert chief.session_id is not None
        await clerk.hear(chief.session_id, 30)  # past the throttle of the first request
        before = stats.keyframe_requests
        for _ in range(5):
            await receiver._send_rtcp_pli(ssrc)
        await wait_until(lambda: stats.keyframe_requests >= before + 2)
        await clerk.hear(chief.session_id, 40)
        # five requests inside one interval: one at once, one when the interval ends
        assert stats.keyframe_requests - before == 2


async def test_a_nack_is_answered_from_the_subscribers_history(
        connect: Connect, node: Any) -> None:
    async with meeting_of_two(connect) as (_meeting_id, chief, clerk):
        stats = node.services.media.sfu.stats
        receiver, ssrc = clerk.receiver_of(f"chief.{chief.session_id}", "video")
        streams = receiver._RTCRtpReceiver__remote_streams
        latest = streams[ssrc].max_seq
        before = stats.retransmitted
        await receiver._send_rtcp_nack(ssrc, [(latest - 1) % 65536, latest])
        await wait_until(lambda: stats.retransmitted >= before + 2)
        unknown = (latest + 30000) % 65536  # never sent: nothing to resend
        await receiver._send_rtcp_nack(ssrc, [unknown])
        assert chief.session_id is not None
        await clerk.hear(chief.session_id, 15)
        assert stats.retransmitted == before + 2


class FullSocketBuffer:
    """A UDP socket whose kernel buffer is full, as the event loop's transport sees it:
    everything handed to it waits. (Loopback never pushes back, so this is simulated.)"""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.full = True

    def clear(self) -> None:
        self.full = False

    def get_write_buffer_size(self) -> int:
        return 64 * 1024 if self.full else int(self._transport.get_write_buffer_size())

    def sendto(self, data: bytes, addr: Any = None) -> None:
        if not self.full:
            self._transport.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def congest(participant: Any) -> FullSocketBuffer:
    """Make the socket the server sends this participant's media on look congested."""
    transceiver = participant.pc.getTransceivers()[0]
    ice = transceiver.sender.transport.transport._connection
    protocol = ice._nominated[1].protocol
    protocol.transport = FullSocketBuffer(protocol.transport)
    return protocol.transport  # type: ignore[no-any-return]


async def test_a_slow_subscriber_drops_to_the_next_keyframe_and_nobody_else_waits(
        connect: Connect, node: Any) -> None:
    async with meeting_of_two(connect) as (meeting_id, chief, clerk):
        sfu = node.services.media.sfu
        assert clerk.session_id is not None
        slow = sfu.meetings[meeting_id].participants[clerk.session_id]
        congested = congest(slow)
        await wait_until(lambda: sfu.stats.dropped_slow > 0, timeout=30)
        assert len(slow.outbox._queue) <= 600
        fast_before = chief.video_frames_from(clerk.session_id)
        await wait_until(lambda: chief.video_frames_from(clerk.session_id) >= fast_before + 15,
                         timeout=3)
        assert chief.session_id is not None
        slow_before = clerk.video_frames_from(chief.session_id)
        congested.clear()
        await wait_until(lambda: clerk.video_frames_from(chief.session_id) >= slow_before + 15,
                         timeout=5)


async def test_a_meeting_is_placed_on_one_media_node_and_moves_when_that_node_dies(
        start_node: Any, connect: Connect) -> None:
    first = await start_node(node_id="media-a", media_node_ttl=1.0)
    second = await start_node(node_id="media-b", media_node_ttl=1.0)
    chief = await connect("chief", on=first)
    clerk = await connect("clerk", on=second)
    meeting_id = await create_meeting(chief, ["clerk"])
    peers = [MediaPeer(chief, meeting_id), MediaPeer(clerk, meeting_id)]
    try:
        placed = set()
        for peer in peers:
            peer.publish()
            placed.add((await peer.join())["media_node"])
            await peer.offer()
        assert len(placed) == 1
        for peer in peers:
            await peer.frames_of(kind_count=2, at_least=10)
        media_node = placed.pop()
        dying, surviving = (first, second) if media_node == "media-a" else (second, first)
        survivor = peers[0] if surviving is first else peers[1]
        await dying.close()
        notice = await survivor.client.wait_for("meeting:reconnect", timeout=10)
        assert notice["meeting_id"] == meeting_id
        await survivor.close()
        again = MediaPeer(survivor.client, meeting_id)
        peers.append(again)
        again.publish()
        again.answer_pushed_offers()
        reply = await again.offer()
        assert reply["session_id"]
        joined_again = await survivor.client.ok("meeting:subscribe",
                                                {"meeting_id": meeting_id, "video": "all"})
        assert joined_again == {}
        assert surviving.services.media.sfu.meetings[meeting_id].participants
    finally:
        for peer in peers:
            await peer.close()
