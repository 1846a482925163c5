"""Meeting recording (PROTOCOL §6, Recording): hosts start and stop it, the media node remuxes
each device's forwarded RTP into a Matroska file without decoding or encoding, audio and
video stay in sync, and members list and download the files from any node."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import VideoStreamTrack
from aiortc.mediastreams import AudioStreamTrack

from media.depacketize import RtpIn, Vp8Depacketizer
from tests.conftest import Api, Connect
from tests.media_helpers import MediaPeer
from tests.test_meetings import assert_forwarded_without_decoding, create_meeting, wait_until

# the VP8 depacketiser ------------------------------------------------------------------------


def vp8(seq: int, ts: int, body: bytes, start: bool, marker: bool) -> RtpIn:
    """One packet: a one-byte payload descriptor (S bit, partition 0) and `body`."""
    return RtpIn(seq % 65536, ts, marker, bytes([0x10 if start else 0x00]) + body, 0.0)


def vp8_frame(seq: int, ts: int, key: bool, packets: int) -> list[RtpIn]:
    header = (b"\x00\x00\x00\x9d\x01\x2a" + (320).to_bytes(2, "little")
              + (240).to_bytes(2, "little")) if key else b"\x01\x00\x00"
    body = header + bytes([ts % 251]) * 30
    size = -(-len(body) // packets)
    chunks = [body[i:i + size] for i in range(0, len(body), size)]
    return [vp8(seq + i, ts, chunk, i == 0, i == len(chunks) - 1)
            for i, chunk in enumerate(chunks)]


def vp8_stream(first_seq: int) -> list[list[RtpIn]]:
    """A keyframe, five delta frames, a keyframe, a delta frame: packets per frame."""
    frames, seq = [], first_seq
    for n, (key, count) in enumerate([(True, 3), (False, 2), (False, 2), (False, 1),
                                      (False, 1), (False, 2), (True, 2), (False, 1)]):
        frames.append(vp8_frame(seq, 1000 + 3000 * n, key, count))
        seq += count
    return frames


def depacketise(packets: list[RtpIn]) -> tuple[list[int], Vp8Depacketizer]:
    depacketizer = Vp8Depacketizer()
    out = [f.timestamp for p in packets for f in depacketizer.push(p)]
    return out, depacketizer


def test_vp8_frames_are_assembled_across_packets_and_sequence_wrap() -> None:
    frames = vp8_stream(first_seq=65533)
    got, _ = depacketise([p for frame in frames for p in frame])
    assert got == [frame[0].timestamp for frame in frames]
    late = [p for frame in frames for p in frame]
    late[4], late[5] = late[5], late[4]  # reordered, as a retransmission arrives
    assert depacketise(late)[0] == got


def test_vp8_frame_with_a_lost_packet_is_dropped_until_the_next_keyframe() -> None:
    frames = vp8_stream(first_seq=100)
    lost = frames[1][1]  # the second packet of the first delta frame
    packets = [p for frame in frames for p in frame if p is not lost]
    got, depacketizer = depacketise(packets)
    key, second_key, after = frames[0][0].timestamp, frames[6][0].timestamp, frames[7][0]
    assert got == [key, second_key, after.timestamp]
    assert depacketizer.lost_frames >= 1


# who may record, list and download --------------------------------------------------------


async def test_only_hosts_start_or_stop_a_recording_and_only_members_list_it(
        connect: Connect) -> None:
    chief, clerk, staff = await connect("chief"), await connect("clerk"), await connect("staff01")
    meeting_id = await create_meeting(chief, ["clerk"])
    for recording in (True, False):
        refused = await clerk.call("meeting:record", {"meeting_id": meeting_id,
                                                      "recording": recording})
        assert refused["error"]["code"] == "forbidden"
    outsider = await staff.call("meeting:recordings", {"meeting_id": meeting_id})
    assert outsider["error"]["code"] == "forbidden"
    listed = await clerk.ok("meeting:recordings", {"meeting_id": meeting_id})
    assert listed["recordings"] == [] and listed["recording"]["recording"] is False
    missing = await chief.call("meeting:record", {"meeting_id": "mtg_nope", "recording": True})
    assert missing["error"]["code"] == "not_found"
    malformed = await chief.call("meeting:record", {"meeting_id": meeting_id, "recording": 1})
    assert malformed["error"]["code"] == "bad_request"


async def test_two_hosts_starting_at_once_make_one_recording_and_stopping_twice_is_no_error(
        connect: Connect) -> None:
    chief, deputy, clerk = await connect("chief"), await connect("deputy"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["deputy", "clerk"])
    await chief.ok("meeting:host", {"meeting_id": meeting_id, "user_id": "deputy",
                                    "keep": True})
    start = {"meeting_id": meeting_id, "recording": True}
    replies = await asyncio.gather(chief.ok("meeting:record", start),
                                   deputy.ok("meeting:record", start))
    states = [r["recording"] for r in replies]
    assert all(s["recording"] for s in states)
    assert states[0]["recording_id"] == states[1]["recording_id"] is not None
    stop = {"meeting_id": meeting_id, "recording": False}
    stopped = await asyncio.gather(chief.ok("meeting:record", stop),
                                   deputy.ok("meeting:record", stop))
    assert all(r["recording"]["recording"] is False for r in stopped)
    again = await chief.ok("meeting:record", stop)
    assert again["recording"]["recording"] is False
    await clerk.wait_for("meeting:recording", lambda d: d["recording"] is False)
    await asyncio.sleep(0.2)  # a second push would be here by now
    pushed = [d["recording"] for d in clerk.received("meeting:recording")]
    assert pushed == [True, False]


# a real recording ---------------------------------------------------------------------------

WIDTH, HEIGHT = 320, 240
FLASH_FOR = 0.2  # seconds of each wall-clock second when the picture is white and a tone sounds


def flashing() -> bool:
    return time.time() % 1.0 < FLASH_FOR


def _picture(luma: int) -> np.ndarray:
    frame = np.full((HEIGHT * 3 // 2, WIDTH), 128, np.uint8)
    frame[:HEIGHT] = luma
    return frame


class FlashVideo(VideoStreamTrack):
    """Black, white at the start of every wall-clock second: when it is captured."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()  # paces like a camera
        frame = av.VideoFrame.from_ndarray(_picture(235 if flashing() else 16),
                                           format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        return frame


class BeepAudio(AudioStreamTrack):
    """Silence, a tone at the start of every wall-clock second: with the white pictures."""

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()  # paces like a microphone
        if flashing():
            n = frame.samples
            tone = (12000 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)).astype("<i2")
            frame.planes[0].update(tone.tobytes())
        return frame


def onsets(times_and_on: list[tuple[float, bool]]) -> list[float]:
    """When something switched on, in seconds."""
    found, before = [], True  # a file starting inside a flash does not count that one
    for t, on in sorted(times_and_on):
        if on and not before:
            found.append(t)
        before = on
    return found


def analyse(path: Path) -> dict[str, Any]:
    """What the test checks in a recorded file. Decoding happens here, in the test, to see
    the pictures and hear the tones; the server never decodes."""
    with av.open(str(path)) as container:
        kinds = sorted(s.type for s in container.streams)
        packets: dict[str, list[float]] = {"video": [], "audio": []}
        for packet in container.demux():
            if packet.pts is not None and packet.stream.type in packets:
                packets[packet.stream.type].append(float(packet.pts * packet.time_base))
    with av.open(str(path)) as container:
        pictures = [(float(f.time), f.to_ndarray()[:HEIGHT].mean() > 128)
                    for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        sounds = [(float(f.time), float(np.abs(f.to_ndarray()).mean()) > 0.05)
                  for f in container.decode(audio=0)]
    return {"kinds": kinds, "packets": packets, "flashes": onsets(pictures),
            "beeps": onsets(sounds)}


async def recordings_of(client: Any, meeting_id: str) -> list[dict[str, Any]]:
    listed = await client.ok("meeting:recordings", {"meeting_id": meeting_id})
    return list(listed["recordings"])


async def download(http: aiohttp.ClientSession, node: Any, url: str,
                   token: str) -> tuple[int, bytes]:
    async with http.get(node.url + url, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.read()


async def test_a_recording_is_one_file_per_device_remuxed_with_audio_and_video_in_sync(
        connect: Connect, node: Any, api: Api, http: aiohttp.ClientSession) -> None:
    chief, clerk = await connect("chief"), await connect("clerk")
    meeting_id = await create_meeting(chief, ["clerk"])
    host, late = MediaPeer(chief, meeting_id), MediaPeer(clerk, meeting_id)
    try:
        host.pc.addTrack(FlashVideo())
        host.pc.addTrack(BeepAudio())
        await host.join()
        await host.offer()
        # Media flowing, as in a meeting under way: the publisher's sender reports are in.
        media = node.services.media.sfu.meetings[meeting_id]
        await wait_until(lambda: any(p.published for p in media.participants.values()) and all(
            t.sender_report is not None for p in media.participants.values()
            for t in p.published.values()))
        started = await chief.ok("meeting:record", {"meeting_id": meeting_id,
                                                    "recording": True})
        began = time.monotonic()
        assert started["recording"]["recording"] is True
        told = await clerk.wait_for("meeting:recording", lambda d: d["recording"] is True)
        assert told == {"meeting_id": meeting_id, "recording": True, "by": "chief",
                        "recording_id": started["recording"]["recording_id"]}

        late.publish()  # joins mid-recording: a file of its own
        await late.join()
        await late.offer()
        await wait_until(lambda: len(node.services.media.sfu.meetings[meeting_id]
                                     .recording.files) == 2)
        listing = await recordings_of(clerk, meeting_id)
        assert {f["status"] for f in listing} == {"recording"}
        clerk_token = await api.token("clerk")
        status, _ = await download(http, node, listing[0]["url"], clerk_token)
        assert status == 409  # not ready while it is being recorded

        recorded = media.recording.files[host.session_id]
        await wait_until(lambda: recorded.frames_written("audio") >= 175, timeout=20)  # 3.5 s
        await chief.ok("meeting:record", {"meeting_id": meeting_id, "recording": False})
        wall = time.monotonic() - began
        for _ in range(100):
            listing = await recordings_of(clerk, meeting_id)
            if listing and all(f["status"] == "ready" for f in listing):
                break
            await asyncio.sleep(0.1)
        by_user = {f["user_id"]: f for f in listing}
        assert sorted(by_user) == ["chief", "clerk"] and len(listing) == 2
        mine = by_user["chief"]
        assert sorted(t["source"] for t in mine["tracks"]) == ["camera", "microphone"]

        path = node.config.data_dir / "recordings" / meeting_id / f"{mine['id']}.mkv"
        found = analyse(path)
        assert found["kinds"] == ["audio", "video"]
        video, audio = found["packets"]["video"], found["packets"]["audio"]
        duration = max(video[-1], audio[-1])
        assert wall - 0.8 < duration < wall + 0.2, (duration, wall)
        assert abs(mine["duration"] - duration) < 0.05
        assert abs(len(video) - 30 * duration) <= 0.15 * 30 * duration, (len(video), duration)
        assert abs(len(audio) - 50 * duration) <= 0.1 * 50 * duration, (len(audio), duration)
        assert abs(video[0] - audio[0]) < 0.1  # both start together...
        flashes, beeps = found["flashes"], found["beeps"]
        assert len(flashes) >= 2 and len(beeps) >= 2, found
        # ...and what was seen and heard at once plays at once. The median, because the
        # test's own encoder (in this process) may emit one frame late when the machine is
        # busy: that lag is the source's, which the recording reproduces faithfully.
        apart = sorted(min(abs(flash - beep) for beep in beeps) for flash in flashes)
        assert apart[len(apart) // 2] < 0.1 and apart[-1] < 0.25, (flashes, beeps)
        await assert_forwarded_without_decoding(node)

        status, body = await download(http, node, mine["url"], clerk_token)
        assert status == 200 and body == path.read_bytes()
        status, _ = await download(http, node, mine["url"], await api.token("staff01"))
        assert status == 403
        status, _ = await download(http, node, f"/api/v1/meetings/{meeting_id}/recordings/rf_x",
                                   clerk_token)
        assert status == 404
    finally:
        await host.close()
        await late.close()


async def test_ending_the_meeting_stops_the_recording_and_keeps_the_files(
        connect: Connect, node: Any) -> None:
    chief = await connect("chief")
    meeting_id = await create_meeting(chief, ["clerk"])
    peer = MediaPeer(chief, meeting_id)
    try:
        peer.publish()
        await peer.join()
        await peer.offer()
        await chief.ok("meeting:record", {"meeting_id": meeting_id, "recording": True})
        media = node.services.media.sfu.meetings[meeting_id]
        await wait_until(lambda: media.recording is not None and any(
            f.frames_written("audio") >= 50 for f in media.recording.files.values()))  # 1 s
        await chief.ok("meeting:end", {"meeting_id": meeting_id})
        listed: dict[str, Any] = {}

        async def ready() -> bool:
            listed.update(await chief.ok("meeting:recordings", {"meeting_id": meeting_id}))
            return bool(listed["recordings"]) and all(
                f["status"] == "ready" for f in listed["recordings"])

        async with asyncio.timeout(10):
            while not await ready():
                await asyncio.sleep(0.1)
        assert listed["recording"]["recording"] is False
        assert listed["recordings"][0]["duration"] > 0.5
        again = await chief.call("meeting:record", {"meeting_id": meeting_id,
                                                    "recording": True})
        assert again["error"]["code"] == "gone"
    finally:
        await peer.close()


class _NoCatalogue:
    async def decision(self, meeting_id: str) -> dict[str, Any] | None:
        return None

    def file_opened(self, info: Any) -> None:
        raise AssertionError("no one publishes here")

    def file_closed(self, info: Any) -> None:
        raise AssertionError("no one publishes here")


async def test_a_media_node_applies_recording_decisions_newest_first_whatever_their_order(
        tmp_path: Path) -> None:
    from types import SimpleNamespace

    from media.recorder import Recorders

    recorders = Recorders(tmp_path, _NoCatalogue())
    media: Any = SimpleNamespace(meeting_id="mtg_seq", recording_seq=0, recording=None,
                                 participants={})
    # The host's stop (seq 2) lands before a stale lookup of the start (seq 1).
    await recorders.apply(media, {"seq": 2, "on": False, "recording_id": "rec_1"})
    await recorders.apply(media, {"seq": 1, "on": True, "recording_id": "rec_1"})
    assert media.recording is None and media.recording_seq == 2
    await recorders.apply(media, {"seq": 4, "on": True, "recording_id": "rec_2"})
    await recorders.apply(media, {"seq": 3, "on": False, "recording_id": "rec_1"})
    assert media.recording is not None and media.recording.recording_id == "rec_2"
    await recorders.apply(media, {"seq": 5, "on": False, "recording_id": "rec_2"})
    assert media.recording is None
