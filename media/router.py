"""Signalling to a meeting's media, wherever the meeting is placed: on this node it is a call
into the SFU, on another node a request over the node link (PROTOCOL §6)."""

from __future__ import annotations

from typing import Any

from core.errors import BadRequest, NotFound, Unavailable
from media.node_link import NodeLink
from media.placement import MediaNodes, NoMediaNode
from media.sfu import SFU, MeetingMedia, VideoChoice


class MediaRouter:
    def __init__(self, sfu: SFU, nodes: MediaNodes) -> None:
        self._sfu = sfu
        self._nodes = nodes
        self.link: NodeLink | None = None

    @property
    def node_id(self) -> str:
        return self._nodes.node_id

    async def call(self, meeting_id: str, op: str, args: dict[str, Any],
                   node_id: str | None = None) -> dict[str, Any]:
        """Run `op` on the meeting's media node (placing the meeting when it has none)."""
        try:
            node = node_id or await self._nodes.place(meeting_id)
        except NoMediaNode as exc:
            raise Unavailable(str(exc)) from exc
        args = {**args, "meeting_id": meeting_id}
        if node == self.node_id:
            result = await self.handle(op, args)
        else:
            assert self.link is not None
            try:
                result = await self.link.call(node, op, args)
            except Unavailable:
                if not await self._nodes.alive(node):
                    await self._nodes.forget(meeting_id, node)
                raise
        return {**result, "media_node": node}

    async def alive(self, node_id: str) -> bool:
        return node_id == self.node_id or await self._nodes.alive(node_id)

    async def forget(self, meeting_id: str, node_id: str) -> None:
        await self._nodes.forget(meeting_id, node_id)

    async def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """One request for the SFU of this node, from this node or another."""
        meeting_id = args["meeting_id"]
        if op == "join":
            media = self._sfu.meeting(meeting_id)
            await self._known_mute(media, args)
            participant = media.join(args["user_id"], args["sid"])
            await media.push_participants()
            return {"session_id": participant.session_id,
                    "participants": media.wire_participants()}
        if op == "offer":
            media = self._sfu.meeting(meeting_id)
            session_id = args.get("session_id")
            if session_id not in media.participants:
                # Placed anew after a media node died: the participant joins here.
                await self._known_mute(media, args)
                session_id = media.join(args["user_id"], args["sid"]).session_id
            sdp = await media.client_offer(session_id, args["sdp"], args.get("sources") or {})
            return {"sdp": sdp, "session_id": session_id}
        if op == "answer":
            await self._sfu.existing(meeting_id).client_answer(args["session_id"], args["sdp"])
            return {}
        if op == "subscribe":
            video = args["video"]
            choice = (VideoChoice() if video == "all"
                      else VideoChoice(last_n=int(video["last_n"])) if isinstance(video, dict)
                      else VideoChoice(sessions=frozenset(video)))
            await self._sfu.existing(meeting_id).choose_video(args["session_id"], choice)
            return {}
        if op == "leave":
            await self._sfu.leave(meeting_id, args["session_id"])
            return {}
        if op == "end":
            return {"sids": await self._sfu.end(meeting_id)}
        return await self._host_control(op, meeting_id, args)

    async def _host_control(self, op: str, meeting_id: str,
                            args: dict[str, Any]) -> dict[str, Any]:
        media = self._sfu.meetings.get(meeting_id)
        if op == "mute":
            if media is not None:
                await media.decide_mute(args["user_id"], args["muted"], args["version"])
            return {}
        if op == "remove":
            return {"sids": await media.remove_user(args["user_id"]) if media else []}
        if op == "hand":
            if media is None:
                raise NotFound("the meeting has no media here; join it again")
            whose = ([media.get(args["session_id"])] if "session_id" in args
                     else media.sessions_of(args["user_id"]))
            await media.raise_hand(whose, args["raised"])
            return {}
        if op == "record":
            # No media here yet: the recording starts when it does (Recorders.media_created).
            if media is not None and self._sfu.recorders is not None:
                await self._sfu.recorders.apply(media, args)
            return {}
        raise BadRequest(f"unknown media request {op!r}")

    @staticmethod
    async def _known_mute(media: MeetingMedia, args: dict[str, Any]) -> None:
        """A joining device starts as the meeting record says its user is (muted or not)."""
        if "muted" in args:
            await media.decide_mute(args["user_id"], args["muted"], args["version"])
