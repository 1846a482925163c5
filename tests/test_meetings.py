"""Video meetings through the real socket (PROTOCOL §6): who may join, WebRTC signalling with
server-pushed offers, and media forwarded between aiortc peers on loopback without the
server decoding or encoding a frame."""

from __future__ import annotations

import asyncio
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
        stats = node.services.media.sfu.stats
        assert stats.packets_out > 100
        assert stats.frames_decoded == 0 and stats.frames_encoded == 0
        metrics = await metrics_text(node)
        assert "xietong_media_frames_decoded 0.0" in metrics
        assert "xietong_media_frames_encoded 0.0" in metrics
        listing = clerk.received("meeting:participants")[-1]["participants"]
        by_session = {p["session_id"]: p for p in listing}
        sources = sorted(t["source"] for t in by_session[chief_peer.session_id]["tracks"])
        assert sources == ["camera", "microphone"]
    finally:
        for peer in peers:
            await peer.close()


async def metrics_text(node: Any) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"{node.url}/metrics") as r:
        return await r.text()
