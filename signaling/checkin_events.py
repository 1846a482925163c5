"""Socket events of a meeting's sign-in (签到) and attendance roll-up (PROTOCOL §6,
paperless); each sign-in is pushed to the meeting's hosts as `meeting:attendance`."""

from __future__ import annotations

import logging
from typing import Any

from core.bus import DomainEvent
from meetings.checkin import CheckinService, SignedIn, Via
from signaling.checkin_schemas import AttendanceQuery, MeetingCheckin
from signaling.gateway import SocketGateway, SocketState

log = logging.getLogger(__name__)


class CheckinEvents:
    def __init__(self, checkins: CheckinService) -> None:
        self._checkins = checkins
        self._gateway: SocketGateway | None = None

    def register(self, gateway: SocketGateway) -> None:
        self._gateway = gateway
        gateway.route("meeting:checkin", MeetingCheckin, self.checkin)
        gateway.route("meeting:attendance", AttendanceQuery, self.attendance)

    async def checkin(self, state: SocketState, payload: MeetingCheckin) -> dict[str, Any]:
        signed = await self._checkins.do_checkin(payload.meeting_id, state.user_id,
                                                 Via(payload.via))
        await self._tell_hosts(signed)
        return {"checkin": signed.checkin.to_wire()}

    async def attendance(self, state: SocketState, payload: AttendanceQuery) -> dict[str, Any]:
        roll = await self._checkins.get_attendance(payload.meeting_id, state.user_id)
        return {"attendance": roll.to_wire()}

    async def _tell_hosts(self, signed: SignedIn) -> None:
        assert self._gateway is not None
        try:
            await self._gateway.deliver(DomainEvent("meeting:attendance", signed.push_to_wire(),
                                                    signed.hosts))
        except Exception:
            # The sign-in is stored: its member must not be told to sign in again (that is
            # `conflict`); the hosts' next roll-up shows it.
            log.exception("telling the hosts of %s's sign-in failed", signed.checkin.user_id)
