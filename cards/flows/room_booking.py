"""会议室申请: a request for a room that needs approval. Started by the rooms service for a
booking (with the booking's ids and the room's managers as context), it goes to the room's
managers; started by someone directly, to their unit's room managers. The first of them to
decide settles it."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from cards.flows.definition import APPROVE, REJECT, FlowDefinition, Step
from cards.flows.forms import a_text, only_fields, zoned_time
from cards.models import Action
from core.clock import iso
from core.directory.service import Routing
from core.directory.tree import OrgTree
from core.errors import BadRequest

MAX_HOURS = 24
MAX_ATTENDEES = 5000


class RoomBookingFlow(FlowDefinition):
    name = "room_booking"
    title = "会议室申请"
    actions: tuple[Action, ...] = (APPROVE, REJECT)
    final_status = "approved"
    # A booking waits on its managers for hours, not days: the meeting will not.
    step_hours = 4.0

    def __init__(self, tz: tzinfo) -> None:
        # Times are kept in UTC and shown on the card in the organisation's zone.
        self._tz = tz

    def _shown(self, moment: str) -> str:
        return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(
            self._tz).strftime("%Y-%m-%d %H:%M")

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        only_fields(form, {"room", "room_name", "start", "end", "subject", "attendees"},
                    "a room request")
        start, end = zoned_time(form.get("start"), "form.start"), \
            zoned_time(form.get("end"), "form.end")
        if end <= start:
            raise BadRequest("form.end: not after start")
        if (end - start).total_seconds() > MAX_HOURS * 3600:
            raise BadRequest(f"form.end: a booking lasts at most {MAX_HOURS} hours")
        attendees = form.get("attendees")
        if attendees is not None and (not isinstance(attendees, int) or
                                      isinstance(attendees, bool) or
                                      not 1 <= attendees <= MAX_ATTENDEES):
            raise BadRequest(f"form.attendees: 1 to {MAX_ATTENDEES}")
        return {"room": a_text(form, "room", 100),
                "room_name": a_text(form, "room_name", 100) if "room_name" in form
                else form["room"], "start": iso(start), "end": iso(end),
                "subject": a_text(form, "subject", 200), "attendees": attendees}

    def fields(self, form: dict[str, Any]) -> list[tuple[str, str]]:
        fields = [("会议室", form["room_name"]), ("主题", form["subject"]),
                  ("开始", self._shown(form["start"])), ("结束", self._shown(form["end"]))]
        if form["attendees"] is not None:
            fields.append(("人数", str(form["attendees"])))
        booking = form.get("booking") or {}
        if booking.get("occurrences", 1) > 1:
            fields.append(("重复", f"共 {booking['occurrences']} 次（{booking['repeats']}）"))
        return fields

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        booking = form.get("booking")
        if booking:
            return [Step("会议室管理员", tuple(booking["managers"]))]
        return [Step("会议室管理员", org.unit_room_managers(routing.dept_id))]
