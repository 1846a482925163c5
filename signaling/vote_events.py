"""Socket events of votes (表决) in paperless meetings: a host opens and closes motions, the
members vote and list them; the members hear of each opening and each result."""

from __future__ import annotations

import logging
from typing import Any

from core.bus import DomainEvent
from meetings.votes import Announcement, VoteService
from signaling.gateway import SocketGateway, SocketState
from signaling.vote_schemas import MotionOpen, MotionRef, MotionsQuery, VoteCast

log = logging.getLogger(__name__)


class VoteEvents:
    def __init__(self, votes: VoteService) -> None:
        self._votes = votes
        self._gateway: SocketGateway | None = None

    def register(self, gateway: SocketGateway) -> None:
        self._gateway = gateway
        gateway.route("meeting:motion:open", MotionOpen, self.open)
        gateway.route("meeting:vote", VoteCast, self.vote)
        gateway.route("meeting:motion:close", MotionRef, self.close)
        gateway.route("meeting:motions", MotionsQuery, self.motions)

    async def open(self, state: SocketState, payload: MotionOpen) -> dict[str, Any]:
        opened = await self._votes.open(state.user_id, payload.meeting_id, payload.title,
                                        list(payload.options), payload.rule, payload.anonymous)
        reply = {"motion": opened.motion.to_wire()}
        await self._announce("meeting:motion", reply, opened)
        return reply

    async def vote(self, state: SocketState, payload: VoteCast) -> dict[str, Any]:
        await self._votes.vote(state.user_id, payload.motion_id, payload.option)
        return {}

    async def close(self, state: SocketState, payload: MotionRef) -> dict[str, Any]:
        closed = await self._votes.close(state.user_id, payload.motion_id)
        motion = closed.motion.to_wire()
        reply = {"motion": motion, "result": motion["result"]}
        await self._announce("meeting:motion:result", reply, closed)
        return reply

    async def motions(self, state: SocketState, payload: MotionsQuery) -> dict[str, Any]:
        listed = await self._votes.motions(state.user_id, payload.meeting_id)
        return {"motions": [motion.to_wire() for motion in listed]}

    async def _announce(self, name: str, payload: dict[str, Any], news: Announcement) -> None:
        assert self._gateway is not None
        try:
            await self._gateway.deliver(DomainEvent(name, payload, news.audience))
        except Exception:
            # The motion is stored: a failed push must not answer the host as if it were not;
            # members see it in `meeting:motions`.
            log.exception("pushing %s of %s failed", name, news.motion.id)
