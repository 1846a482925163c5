"""Socket events of meetings (PROTOCOL §6): create, join, leave, end, host controls, raised
hands, and the WebRTC signalling relayed to the meeting's media node wherever it runs.

The edge remembers, per socket, the meetings it joined and the media node of each: that is
what it relays to, what it leaves when the socket goes, and what it watches: when a media node
stops heartbeating, its participants here get `meeting:reconnect` and their next offer places
the meeting anew."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.bus import DomainEvent
from core.clock import Clock
from core.errors import BadRequest, Conflict, Forbidden, NotFound
from core.tasks import Periodic
from media.router import MediaRouter
from meetings.controls import HostControls
from meetings.records import Meeting, MeetingService
from signaling.gateway import SocketGateway, SocketState
from signaling.meeting_schemas import (
    LastN,
    MeetingAgenda,
    MeetingCancel,
    MeetingCreate,
    MeetingHand,
    MeetingHost,
    MeetingLock,
    MeetingMute,
    MeetingRef,
    MeetingRemove,
    MeetingSubscribe,
    RtcAnswer,
    RtcOffer,
)

log = logging.getLogger(__name__)

WATCH_EVERY = 1.0  # seconds between checks that joined meetings' media nodes live


@dataclass
class Joined:
    session_id: str
    node_id: str | None  # None after the node died: the next offer places the meeting anew


class MeetingEvents:
    def __init__(self, meetings: MeetingService, controls: HostControls, router: MediaRouter,
                 clock: Clock) -> None:
        self._meetings = meetings
        self._controls = controls
        self._router = router
        self._joined: dict[str, dict[str, Joined]] = {}
        self._gateway: SocketGateway | None = None
        self._watch = Periodic(clock, WATCH_EVERY, self.watch_nodes, "media node watch")
        self._over_hooks: list[Callable[[str], Awaitable[Any]]] = []

    def on_over(self, hook: Callable[[str], Awaitable[Any]]) -> None:
        """Called with a meeting's id after a host ended or cancelled it here (materials
        expire); a failing hook is logged, not answered: its own sweep catches up."""
        self._over_hooks.append(hook)

    async def _over(self, meeting: Meeting) -> None:
        if not meeting.over:
            return
        for hook in self._over_hooks:
            try:
                await hook(meeting.id)
            except Exception:
                log.exception("after the end of meeting %s", meeting.id)

    def register(self, gateway: SocketGateway) -> None:
        self._gateway = gateway
        gateway.route("meeting:create", MeetingCreate, self.create)
        gateway.route("meeting:get", MeetingRef, self.get)
        gateway.route("meeting:join", MeetingRef, self.join)
        gateway.route("meeting:leave", MeetingRef, self.leave)
        gateway.route("meeting:end", MeetingRef, self.end)
        gateway.route("meeting:cancel", MeetingCancel, self.cancel)
        gateway.route("meeting:agenda", MeetingAgenda, self.agenda)
        gateway.route("meeting:subscribe", MeetingSubscribe, self.subscribe)
        gateway.route("meeting:mute", MeetingMute, self.mute)
        gateway.route("meeting:remove", MeetingRemove, self.remove)
        gateway.route("meeting:lock", MeetingLock, self.lock)
        gateway.route("meeting:host", MeetingHost, self.host)
        gateway.route("meeting:hand", MeetingHand, self.hand)
        gateway.route("rtc:offer", RtcOffer, self.offer)
        gateway.route("rtc:answer", RtcAnswer, self.answer)
        gateway.on_disconnect(self.socket_gone)

    def start(self) -> None:
        self._watch.start()

    async def stop(self) -> None:
        await self._watch.stop()

    def _entry(self, state: SocketState, meeting_id: str) -> Joined:
        joined = self._joined.get(state.sid, {}).get(meeting_id)
        if joined is None:
            raise NotFound("join the meeting first")
        return joined

    async def create(self, state: SocketState, payload: MeetingCreate) -> dict[str, Any]:
        meeting = await self._meetings.create(state.user_id, payload.to_request())
        return {"meeting": meeting.to_wire()}

    async def get(self, state: SocketState, payload: MeetingRef) -> dict[str, Any]:
        meeting = await self._meetings.look(payload.meeting_id, state.user_id)
        return {"meeting": meeting.to_wire()}

    async def cancel(self, state: SocketState, payload: MeetingCancel) -> dict[str, Any]:
        meeting = await self._meetings.cancel(state.user_id, payload.meeting_id, payload.reason)
        await self._over(meeting)
        await self._announce(meeting)
        return {"meeting": meeting.to_wire()}

    async def agenda(self, state: SocketState, payload: MeetingAgenda) -> dict[str, Any]:
        meeting = await self._meetings.change_agenda(
            state.user_id, payload.meeting_id, payload.agenda_version,
            [item.model_dump(exclude_none=True) for item in payload.agenda])
        await self._announce(meeting)
        return {"meeting": meeting.to_wire()}

    async def join(self, state: SocketState, payload: MeetingRef) -> dict[str, Any]:
        meeting = await self._meetings.admit(payload.meeting_id, state.user_id)
        if payload.meeting_id in self._joined.get(state.sid, {}):
            raise Conflict("this socket is in the meeting already")
        result = await self._router.call(meeting.id, "join",
                                         self._arrival(meeting, state))
        self._joined.setdefault(state.sid, {})[meeting.id] = Joined(
            result["session_id"], result["media_node"])
        return {"meeting": meeting.to_wire(), "participants": result["participants"],
                "session_id": result["session_id"], "media_node": result["media_node"]}

    async def offer(self, state: SocketState, payload: RtcOffer) -> dict[str, Any]:
        joined = self._entry(state, payload.meeting_id)
        # Removed, or the meeting ended meanwhile: no new media; a lock does not matter here.
        meeting = await self._meetings.admit(payload.meeting_id, state.user_id, already_in=True)
        result = await self._router.call(
            payload.meeting_id, "offer",
            {**self._arrival(meeting, state), "session_id": joined.session_id,
             "sdp": payload.sdp, "sources": dict(payload.sources)}, joined.node_id)
        joined.session_id, joined.node_id = result["session_id"], result["media_node"]
        return {"sdp": result["sdp"], "session_id": joined.session_id}

    async def answer(self, state: SocketState, payload: RtcAnswer) -> dict[str, Any]:
        joined = self._entry(state, payload.meeting_id)
        if joined.node_id is None:
            raise Conflict("the meeting moved to another media node; offer again")
        await self._router.call(payload.meeting_id, "answer",
                                {"session_id": joined.session_id, "sdp": payload.sdp},
                                joined.node_id)
        return {}

    async def subscribe(self, state: SocketState, payload: MeetingSubscribe) -> dict[str, Any]:
        joined = self._entry(state, payload.meeting_id)
        video: Any = payload.video
        if isinstance(video, LastN):
            video = {"last_n": video.last_n}
        await self._router.call(payload.meeting_id, "subscribe",
                                {"session_id": joined.session_id, "video": video},
                                joined.node_id)
        return {}

    async def leave(self, state: SocketState, payload: MeetingRef) -> dict[str, Any]:
        joined = self._entry(state, payload.meeting_id)
        self._joined.get(state.sid, {}).pop(payload.meeting_id, None)
        if joined.node_id is not None:
            await self._router.call(payload.meeting_id, "leave",
                                    {"session_id": joined.session_id}, joined.node_id)
        return {}

    async def end(self, state: SocketState, payload: MeetingRef) -> dict[str, Any]:
        meeting = await self._meetings.end(payload.meeting_id, state.user_id)
        await self._over(meeting)
        ended = await self._router.call(meeting.id, "end", {})
        assert self._gateway is not None
        # Everyone invited hears of it, and so does every socket still in the meeting (an
        # open meeting's participants need not be invitees).
        await self._gateway.deliver(DomainEvent(
            "meeting:ended", {"meeting_id": meeting.id},
            meeting.members,
            topics=tuple(ended.get("sids", ()))))
        return {"meeting": meeting.to_wire()}

    # host controls -------------------------------------------------------------------------

    async def mute(self, state: SocketState, payload: MeetingMute) -> dict[str, Any]:
        meeting = await self._controls.mute(payload.meeting_id, state.user_id, payload.user_id,
                                            payload.muted)
        await self._apply_mute(meeting, payload.user_id)
        await self._tell(meeting, "meeting:muted", payload.user_id,
                         {"muted": payload.user_id in meeting.muted})
        return {"meeting": meeting.to_wire()}

    async def remove(self, state: SocketState, payload: MeetingRemove) -> dict[str, Any]:
        meeting = await self._controls.remove(payload.meeting_id, state.user_id,
                                              payload.user_id)
        await self._router.call(meeting.id, "remove", {"user_id": payload.user_id})
        await self._tell(meeting, "meeting:removed", payload.user_id, {})
        await self._announce(meeting)
        return {"meeting": meeting.to_wire()}

    async def lock(self, state: SocketState, payload: MeetingLock) -> dict[str, Any]:
        meeting = await self._controls.lock(payload.meeting_id, state.user_id, payload.locked)
        await self._announce(meeting)
        return {"meeting": meeting.to_wire()}

    async def host(self, state: SocketState, payload: MeetingHost) -> dict[str, Any]:
        meeting = await self._controls.hand_over(payload.meeting_id, state.user_id,
                                                 payload.user_id, payload.keep)
        await self._apply_mute(meeting, payload.user_id)  # a new host is never muted
        await self._announce(meeting)
        return {"meeting": meeting.to_wire()}

    async def hand(self, state: SocketState, payload: MeetingHand) -> dict[str, Any]:
        joined = self._entry(state, payload.meeting_id)
        if payload.user_id is None or payload.user_id == state.user_id:
            args: dict[str, Any] = {"session_id": joined.session_id}
        else:
            if payload.raised:
                raise BadRequest("only your own hand can be raised")
            meeting = await self._meetings.get(payload.meeting_id)
            if not meeting.is_host(state.user_id):
                raise Forbidden("only a host can lower someone else's hand")
            args = {"user_id": payload.user_id}
        await self._router.call(payload.meeting_id, "hand", {**args, "raised": payload.raised},
                                joined.node_id)
        return {}

    @staticmethod
    def _arrival(meeting: Meeting, state: SocketState) -> dict[str, Any]:
        """Who arrives at the media node, and whether the record has them muted."""
        return {"user_id": state.user_id, "sid": state.sid,
                "muted": state.user_id in meeting.muted, "version": meeting.version}

    async def _apply_mute(self, meeting: Meeting, user_id: str) -> None:
        await self._router.call(meeting.id, "mute",
                                {"user_id": user_id, "muted": user_id in meeting.muted,
                                 "version": meeting.version})

    async def _tell(self, meeting: Meeting, event: str, user_id: str,
                    payload: dict[str, Any]) -> None:
        assert self._gateway is not None
        await self._gateway.deliver(DomainEvent(
            event, {"meeting_id": meeting.id, **payload}, frozenset({user_id})))

    async def _announce(self, meeting: Meeting) -> None:
        """Hosts, lock, the removed, the agenda or the status changed: every member sees the
        meeting as it is now."""
        assert self._gateway is not None
        await self._gateway.deliver(DomainEvent(
            "meeting:updated", {"meeting": meeting.to_wire()}, meeting.members))

    async def socket_gone(self, state: SocketState) -> None:
        for meeting_id, joined in self._joined.pop(state.sid, {}).items():
            if joined.node_id is None:
                continue
            try:
                await self._router.call(meeting_id, "leave", {"session_id": joined.session_id},
                                        joined.node_id)
            except Exception as exc:
                # The media node tears the connection down itself when ICE fails.
                log.info("leaving %s after a disconnect failed: %s", meeting_id, exc)

    async def watch_nodes(self) -> None:
        verdicts: dict[str, bool] = {}
        assert self._gateway is not None
        for sid, meetings in list(self._joined.items()):
            for meeting_id, joined in meetings.items():
                node = joined.node_id
                if node is None:
                    continue
                if node not in verdicts:
                    verdicts[node] = await self._router.alive(node)
                if verdicts[node]:
                    continue
                joined.node_id = None
                await self._router.forget(meeting_id, node)
                await self._gateway.deliver(DomainEvent(
                    "meeting:reconnect", {"meeting_id": meeting_id}, topics=(sid,)))
