"""请休假: leave of five kinds; the server counts the days; the chain grows with them."""

from __future__ import annotations

from datetime import date
from typing import Any

from cards.flows.definition import APPROVE, REJECT, FlowDefinition, Step
from cards.flows.forms import a_date, a_flag, a_phone, a_text, inclusive_days, only_fields
from cards.models import Action, Field
from core.directory.service import Routing
from core.directory.tree import OrgTree
from core.errors import BadRequest

LEAVE_TYPES = {"annual": "年休假", "personal": "事假", "sick": "病假", "marriage": "婚假",
               "maternity": "产假"}


def count_days(start: date, end: date, half_day: bool) -> float:
    """Calendar days from start to end inclusive; a half day is a single day's half."""
    days = float(inclusive_days(start, end))
    if half_day:
        if days != 1:
            raise BadRequest("form.half_day: only for a leave of one day")
        return 0.5
    return days


class LeaveFlow(FlowDefinition):
    name = "leave"
    title = "请休假"
    actions: tuple[Action, ...] = (APPROVE, REJECT)
    final_status = "approved"
    record_to_hr = True
    sensitive = (("phone", "phone"),)

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        only_fields(form, {"leave_type", "start", "end", "half_day", "reason", "days",
                           "phone"}, "a leave request")
        leave_type = form.get("leave_type")
        if leave_type not in LEAVE_TYPES:
            raise BadRequest(f"form.leave_type: one of {', '.join(LEAVE_TYPES)}")
        half_day = a_flag(form, "half_day")
        start, end = a_date(form, "start"), a_date(form, "end")
        days = count_days(start, end, half_day)
        if "days" in form and form["days"] != days:
            raise BadRequest(f"form.days: {form['days']!r} disagrees with the dates ({days})")
        reason = a_text(form, "reason")
        return {"leave_type": leave_type, "start": start.isoformat(), "end": end.isoformat(),
                "half_day": half_day, "days": days, "reason": reason,
                "phone": a_phone(form, "phone")}

    def fields(self, form: dict[str, Any]) -> list[Field | tuple[str, str]]:
        days = form["days"]
        fields: list[Field | tuple[str, str]] = [
            ("类型", LEAVE_TYPES[form["leave_type"]]), ("开始", form["start"]),
            ("结束", form["end"]), ("天数", f"{days:g}"), ("事由", form["reason"])]
        if form.get("phone"):
            fields.append(Field("假期联系电话", form["phone"], "phone"))
        return fields

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        """Up to 1 day the department head; up to 3 then the leader in charge; more then the
        head of the unit. The unit head's own leave goes to the head of the parent unit (at
        the top, nobody approves it: hr records it). When every step of the chain is the
        applicant themselves (a department head's short leave), the next level up decides:
        a request is never approved by nobody but the one who made it."""
        if applicant == routing.unit_head:
            return [Step.one("上级单位负责人", routing.parent_unit_head)]
        levels = [Step.one("部门负责人", routing.department_head),
                  Step.one("分管领导", routing.leader_in_charge),
                  Step.one("单位负责人", routing.unit_head)]
        days = form["days"]
        wanted = 1 if days <= 1 else 2 if days <= 3 else 3
        steps = levels[:wanted]
        if all(s.people[0] in (None, applicant) for s in steps):
            steps += [s for s in levels[wanted:] if s.people[0] not in (None, applicant)][:1]
        return steps
