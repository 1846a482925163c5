"""销假: after an approved leave the applicant reports back with the day it really ended; the
unit's hr records the actual days. Each leave is reported back once."""

from __future__ import annotations

from datetime import date
from typing import Any

from cards.flows.definition import RECORD, FlowDefinition, Step
from cards.flows.forms import a_date, only_fields
from cards.flows.leave import LEAVE_TYPES, count_days
from cards.models import Action, Card
from core.directory.service import Routing
from core.directory.tree import OrgTree
from core.errors import BadRequest


class LeaveReturnFlow(FlowDefinition):
    name = "leave_return"
    title = "销假"
    actions: tuple[Action, ...] = (RECORD,)
    final_status = "recorded"
    follows = "leave"

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        only_fields(form, {"of", "actual_end", "note"}, "a report back from leave")
        of = form.get("of")
        if not isinstance(of, str) or not of:
            raise BadRequest("form.of: the leave request's instance_id is required")
        note = form.get("note") or ""
        if not isinstance(note, str) or len(note) > 500:
            raise BadRequest("form.note: at most 500 characters")
        return {"of": of, "actual_end": a_date(form, "actual_end").isoformat(),
                "note": note.strip()}

    def admit(self, applicant: str, routing: Routing, form: dict[str, Any], org: OrgTree,
              followed: Card | None) -> dict[str, Any]:
        assert followed is not None  # the engine found it: this flow follows leave
        leave = followed.meta["form"]
        start = date.fromisoformat(leave["start"])
        actual_end = date.fromisoformat(form["actual_end"])
        if actual_end < start:
            raise BadRequest(f"form.actual_end: before the leave began ({leave['start']})")
        actual = count_days(start, actual_end, leave["half_day"] and actual_end == start)
        return {**form, "leave_type": leave["leave_type"], "start": leave["start"],
                "end": leave["end"], "days": leave["days"], "actual_days": actual}

    def fields(self, form: dict[str, Any]) -> list[tuple[str, str]]:
        planned, actual = form["days"], form["actual_days"]
        difference = "按期" if actual == planned else \
            f"提前{planned - actual:g}天" if actual < planned else f"超假{actual - planned:g}天"
        fields = [("类型", LEAVE_TYPES[form["leave_type"]]),
                  ("原假期", f"{form['start']} 至 {form['end']}（{planned:g}天）"),
                  ("实际结束", form["actual_end"]), ("实际天数", f"{actual:g}"),
                  ("对比", difference)]
        if form["note"]:
            fields.append(("说明", form["note"]))
        return fields

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        return [Step.one("人事登记", routing.unit_hr, ("record",))]
