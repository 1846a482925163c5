"""The selective forwarding unit of one media node: each meeting placed here, its
participants' peer connections, and the renegotiation that adds an m-line for every track
another participant publishes (PROTOCOL §6).

Negotiation per participant is serialised by one lock and follows one rule against glare:
the server pushes an offer only after it has answered the client's first offer, never while
one of its own offers waits for an answer, and a client offer that crosses a pushed one is
refused with `conflict` (the client answers the pushed offer, then offers again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCSessionDescription
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from core.errors import BadRequest, Conflict, NotFound
from media.aiortc_bridge import (
    ForwardingPeerConnection,
    ForwardingReceiver,
    ForwardingSender,
    track_ids,
)
from media.forwarder import ForwardingStats, Outbox, PublishedTrack, Subscription
from media.recorder import MeetingRecording, Recorders, stop_recording
from media.speaker import ActiveSpeaker

log = logging.getLogger(__name__)

Push = Callable[[str, dict[str, Any], list[str]], Awaitable[None]]
SOURCES = ("camera", "microphone", "screen")
SPEAKER_EVERY = 0.3  # seconds between active-speaker decisions


@dataclass
class VideoChoice:
    """Which videos a participant receives: all, the last `n` speakers, or named sessions."""

    last_n: int | None = None
    sessions: frozenset[str] | None = None

    def allows(self, session_id: str, source: str, recent: list[str]) -> bool:
        if source == "screen":
            return True  # a shared screen is what the meeting looks at
        if self.sessions is not None:
            return session_id in self.sessions
        if self.last_n is not None:
            return session_id in recent[:self.last_n]
        return True


@dataclass
class Participant:
    session_id: str
    user_id: str
    sid: str
    pc: ForwardingPeerConnection
    outbox: Outbox
    published: dict[str, PublishedTrack] = field(default_factory=dict)  # mid -> track
    # key of a published track -> (transceiver, subscription) towards this participant
    receiving: dict[str, tuple[RTCRtpTransceiver, Subscription]] = field(default_factory=dict)
    video: VideoChoice = field(default_factory=VideoChoice)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    answered: bool = False
    awaiting_answer: bool = False
    wants_offer: bool = False
    muted: bool = False
    hand_raised: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "session_id": self.session_id, "muted": self.muted,
                "hand_raised": self.hand_raised,
                "tracks": [{"id": t.key, "kind": t.kind, "source": t.source}
                           for t in self.published.values()]}

    def mute(self, muted: bool) -> None:
        self.muted = muted
        for track in self.published.values():
            if track.kind == "audio":
                track.silence(muted)


class MeetingMedia:
    """One meeting's media on this node."""

    def __init__(self, meeting_id: str, push: Push, stats: ForwardingStats,
                 host_addresses: list[str], keyframe_interval: float) -> None:
        self.meeting_id = meeting_id
        self._push = push
        self._stats = stats
        self._host_addresses = host_addresses
        self._keyframe_interval = keyframe_interval
        self.participants: dict[str, Participant] = {}
        # user id -> (muted, version of the meeting record that decided it)
        self._mute_decisions: dict[str, tuple[bool, int]] = {}
        self.speaker = ActiveSpeaker()
        self.recent: list[str] = []  # session ids, latest speaker first
        self._tasks: set[asyncio.Task[None]] = set()
        self._speaker_task = asyncio.ensure_future(self._watch_speaker())
        self.recording: MeetingRecording | None = None  # media/recorder.py
        self.recording_seq = 0  # the newest recording decision applied

    # membership ------------------------------------------------------------------------------

    def join(self, user_id: str, sid: str) -> Participant:
        for existing in self.participants.values():
            if existing.sid == sid:
                return existing
        session_id = secrets.token_hex(4)
        participant = Participant(session_id, user_id, sid,
                                  ForwardingPeerConnection(self._host_addresses),
                                  Outbox(self._stats))
        participant.muted = self._mute_decisions.get(user_id, (False, 0))[0]
        participant.outbox.start()
        self.participants[session_id] = participant

        @participant.pc.on("connectionstatechange")
        def on_state() -> None:
            # A client that vanished without leaving: ICE gives up on it, so do we.
            if participant.pc.connectionState == "failed":
                self._spawn(self.leave(session_id))

        self.recent.append(session_id)
        return participant

    async def leave(self, session_id: str) -> None:
        participant = self.participants.pop(session_id, None)
        if participant is None:
            return
        with contextlib.suppress(ValueError):
            self.recent.remove(session_id)
        self.speaker.forget(session_id)
        if self.recording is not None:
            self.recording.session_left(session_id)
        for track in participant.published.values():
            track.detach_all()
        await participant.outbox.close()
        await participant.pc.close()
        for other in self.participants.values():
            self._schedule_offer(other)
        await self.push_participants()

    # host controls ---------------------------------------------------------------------------

    async def decide_mute(self, user_id: str, muted: bool, version: int) -> None:
        """Apply a host's decision unless a newer one (by record version) came first."""
        if self._mute_decisions.get(user_id, (False, -1))[1] > version:
            return
        self._mute_decisions[user_id] = (muted, version)
        changed = False
        for participant in self.sessions_of(user_id):
            if muted:
                self.speaker.forget(participant.session_id)
            if participant.muted != muted:
                participant.mute(muted)
                changed = True
        if changed:
            await self.push_participants()

    async def remove_user(self, user_id: str) -> list[str]:
        """Every device of `user_id` out of the meeting; returns their socket ids."""
        gone = self.sessions_of(user_id)
        for participant in gone:
            await self.leave(participant.session_id)
        return [p.sid for p in gone]

    async def raise_hand(self, participants: list[Participant], raised: bool) -> None:
        changed = [p for p in participants if p.hand_raised != raised]
        for participant in changed:
            participant.hand_raised = raised
        if changed:
            await self.push_participants()

    def sessions_of(self, user_id: str) -> list[Participant]:
        return [p for p in self.participants.values() if p.user_id == user_id]

    async def close(self) -> None:
        await stop_recording(self)
        self._speaker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._speaker_task
        for session_id in list(self.participants):
            participant = self.participants.pop(session_id)
            await participant.outbox.close()
            await participant.pc.close()
        for task in list(self._tasks):
            task.cancel()

    def get(self, session_id: str) -> Participant:
        participant = self.participants.get(session_id)
        if participant is None:
            raise NotFound("not in this meeting; join it first")
        return participant

    def wire_participants(self) -> list[dict[str, Any]]:
        return [p.to_wire() for p in self.participants.values()]

    async def push_participants(self) -> None:
        await self._push("meeting:participants",
                         {"meeting_id": self.meeting_id,
                          "participants": self.wire_participants()},
                         [p.sid for p in self.participants.values()])

    # negotiation -----------------------------------------------------------------------------

    async def client_offer(self, session_id: str, sdp: str,
                           sources: dict[str, str]) -> str:
        participant = self.get(session_id)
        if participant.awaiting_answer:
            raise Conflict("an offer from the server waits for your answer; answer it, "
                           "then offer again")
        async with participant.lock:
            pc = participant.pc
            offer = RTCSessionDescription(sdp=sdp, type="offer")
            try:
                await pc.setRemoteDescription(offer)
                await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:
                # aiortc reports SDP it cannot parse or negotiate with assertions, value
                # and its own errors alike; all of them are the offer's fault.
                raise BadRequest(f"the offer cannot be negotiated: {exc!r}") from exc
            changed = self._update_publications(participant, offer, sources)
            if changed and self.recording is not None:
                self.recording.sync(participant)
            participant.answered = True
            answer = pc.localDescription.sdp
        if changed:
            for other in self.participants.values():
                self._schedule_offer(other)
            await self.push_participants()
        else:
            self._schedule_offer(participant)
        return answer

    async def client_answer(self, session_id: str, sdp: str) -> None:
        participant = self.get(session_id)
        if not participant.awaiting_answer:
            raise Conflict("no offer from the server waits for an answer")
        async with participant.lock:
            try:
                await participant.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=sdp, type="answer"))
            except Exception as exc:
                raise BadRequest(f"the answer cannot be negotiated: {exc!r}") from exc
            participant.awaiting_answer = False
        if participant.wants_offer:
            self._schedule_offer(participant)

    def _update_publications(self, participant: Participant, offer: RTCSessionDescription,
                             sources: dict[str, str]) -> bool:
        changed = False
        offered_ids = track_ids(offer)
        videos = 0
        for transceiver in participant.pc.getTransceivers():
            mid = transceiver.mid
            if mid is None or transceiver.direction == "sendonly":
                continue  # not negotiated yet, or one of ours forwarding to this participant
            # The answer just set fixed currentDirection: whether the client still sends here.
            if transceiver.currentDirection not in ("recvonly", "sendrecv"):
                track = participant.published.pop(mid, None)
                if track is not None:
                    track.detach_all()
                    changed = True
                continue
            if mid in participant.published:
                continue
            kind = transceiver.kind
            source = sources.get(mid) or sources.get(offered_ids.get(mid, ""))
            if source not in SOURCES:
                source = "microphone" if kind == "audio" else (
                    "camera" if videos == 0 else "screen")
            if kind == "video":
                videos += 1
            key = f"{participant.session_id}.{mid}"
            on_level = None
            if kind == "audio":
                session_id = participant.session_id

                def on_level(level: int, session_id: str = session_id) -> None:
                    self.speaker.observe(session_id, level, time.monotonic())

            receiver = transceiver.receiver
            assert isinstance(receiver, ForwardingReceiver)  # built by ForwardingPeerConnection
            track = participant.published[mid] = PublishedTrack(
                key, kind, source, _main_codec(transceiver._codecs), receiver,
                self._stats, self._keyframe_interval, on_level)
            track.silenced = kind == "audio" and participant.muted
            changed = True
        return changed

    def _schedule_offer(self, participant: Participant) -> None:
        self._spawn(self._offer_to(participant))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("negotiation in %s failed", self.meeting_id, exc_info=task.exception())

    async def _offer_to(self, participant: Participant) -> None:
        if (not participant.answered or participant.awaiting_answer
                or participant.lock.locked()):
            participant.wants_offer = True
            return
        async with participant.lock:
            if (participant.session_id not in self.participants
                    or participant.pc.connectionState == "closed"):
                return
            changed = self._sync_forwarding(participant)
            if not changed and not participant.wants_offer:
                return
            participant.wants_offer = False
            pc = participant.pc
            await pc.setLocalDescription(await pc.createOffer())
            participant.awaiting_answer = True
            sdp = pc.localDescription.sdp
        await self._push("rtc:offer", {"meeting_id": self.meeting_id, "sdp": sdp},
                         [participant.sid])

    def _sync_forwarding(self, participant: Participant) -> bool:
        """Give `participant` an m-line for every track the others publish and retire the
        m-lines of tracks that are gone. Returns whether anything changed."""
        wanted: dict[str, tuple[Participant, PublishedTrack]] = {}
        for other in self.participants.values():
            if other is participant:
                continue
            for track in other.published.values():
                wanted[track.key] = (other, track)
        changed = False
        for key in list(participant.receiving):
            if key not in wanted:
                transceiver, subscription = participant.receiving.pop(key)
                subscription.close()
                transceiver.direction = "inactive"
                changed = True
        for key, (owner, track) in wanted.items():
            if key in participant.receiving:
                continue
            transceiver = participant.pc.add_forwarding(
                track.kind, f"{owner.user_id}.{owner.session_id}", key, track.codec)
            sender = transceiver.sender
            assert isinstance(sender, ForwardingSender)
            subscription = Subscription(track, sender, participant.outbox)
            participant.receiving[key] = (transceiver, subscription)
            changed = True
        self._apply_video_choice(participant)
        return changed

    # what each participant receives ------------------------------------------------------------

    async def choose_video(self, session_id: str, choice: VideoChoice) -> None:
        participant = self.get(session_id)
        participant.video = choice
        self._apply_video_choice(participant)

    def _apply_video_choice(self, participant: Participant) -> None:
        for _transceiver, subscription in participant.receiving.values():
            track = subscription.track
            if track.kind != "video":
                continue
            owner = track.key.split(".", 1)[0]
            if participant.video.allows(owner, track.source, self.recent):
                subscription.resume()
            else:
                subscription.pause()

    async def _watch_speaker(self) -> None:
        while True:
            await asyncio.sleep(SPEAKER_EVERY)
            try:
                await self._decide_speaker()
            except Exception:
                log.exception("choosing the active speaker of %s failed", self.meeting_id)

    async def _decide_speaker(self) -> None:
        session_id = self.speaker.decide(time.monotonic())
        speaker = self.participants.get(session_id) if session_id else None
        if speaker is None:
            return
        with contextlib.suppress(ValueError):
            self.recent.remove(session_id)  # type: ignore[arg-type]
        self.recent.insert(0, speaker.session_id)
        for participant in self.participants.values():
            self._apply_video_choice(participant)
        await self._push("meeting:speaker",
                         {"meeting_id": self.meeting_id, "user_id": speaker.user_id,
                          "session_id": speaker.session_id},
                         [p.sid for p in self.participants.values()])


def _main_codec(codecs: list[RTCRtpCodecParameters]) -> RTCRtpCodecParameters:
    return next(c for c in codecs if not is_rtx(c))


class SFU:
    """The meetings placed on this media node."""

    def __init__(self, push: Push, host_addresses: list[str],
                 keyframe_interval: float = 0.5) -> None:
        self._push = push
        self._host_addresses = host_addresses
        self._keyframe_interval = keyframe_interval
        self.stats = ForwardingStats()
        self.meetings: dict[str, MeetingMedia] = {}
        self.recorders: Recorders | None = None  # set by MediaNode when it records

    def meeting(self, meeting_id: str) -> MeetingMedia:
        media = self.meetings.get(meeting_id)
        if media is None:
            media = self.meetings[meeting_id] = MeetingMedia(
                meeting_id, self._push, self.stats, self._host_addresses,
                self._keyframe_interval)
            if self.recorders is not None:
                self.recorders.media_created(media)
        return media

    def existing(self, meeting_id: str) -> MeetingMedia:
        media = self.meetings.get(meeting_id)
        if media is None:
            raise NotFound("the meeting has no media here; join it again")
        return media

    @property
    def load(self) -> int:
        return sum(len(m.participants) for m in self.meetings.values())

    async def leave(self, meeting_id: str, session_id: str) -> None:
        media = self.meetings.get(meeting_id)
        if media is None:
            return
        await media.leave(session_id)
        if not media.participants:
            await media.close()
            self.meetings.pop(meeting_id, None)

    async def end(self, meeting_id: str) -> list[str]:
        media = self.meetings.pop(meeting_id, None)
        if media is None:
            return []
        sids = [p.sid for p in media.participants.values()]
        await media.close()
        return sids

    async def close(self) -> None:
        for meeting_id in list(self.meetings):
            await self.end(meeting_id)
