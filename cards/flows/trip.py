"""出差审批: the department head approves; the leader in charge too when the trip is longer
than 3 days or leaves the province; then the unit's clerk registers it (登记)."""

from __future__ import annotations

from typing import Any

from cards.flows.definition import APPROVE, REGISTER, REJECT, FlowDefinition, Step
from cards.flows.forms import (
    a_date,
    a_flag,
    a_phone,
    a_text,
    an_id_card,
    inclusive_days,
    only_fields,
)
from cards.models import Action, Field
from core.directory.service import Routing
from core.directory.tree import OrgTree
from core.errors import BadRequest

TRANSPORT = {"train": "火车", "plane": "飞机", "car": "公务用车", "bus": "客车", "other": "其他"}


class TripFlow(FlowDefinition):
    name = "trip"
    title = "出差审批"
    actions: tuple[Action, ...] = (APPROVE, REJECT, REGISTER)
    final_status = "registered"
    # The clerk books tickets with them.
    sensitive = (("id_number", "id_card"), ("phone", "phone"))

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        only_fields(form, {"basis", "start", "end", "destination", "transport",
                           "out_of_province", "id_number", "phone"}, "a trip request")
        start, end = a_date(form, "start"), a_date(form, "end")
        days = inclusive_days(start, end)
        if form.get("transport") not in TRANSPORT:
            raise BadRequest(f"form.transport: one of {', '.join(TRANSPORT)}")
        return {"basis": a_text(form, "basis"), "start": start.isoformat(),
                "end": end.isoformat(), "days": days,
                "destination": a_text(form, "destination", 100),
                "transport": form["transport"],
                "out_of_province": a_flag(form, "out_of_province"),
                "id_number": an_id_card(form, "id_number"), "phone": a_phone(form, "phone")}

    def fields(self, form: dict[str, Any]) -> list[Field | tuple[str, str]]:
        fields: list[Field | tuple[str, str]] = [
            ("任务依据", form["basis"]), ("目的地", form["destination"]),
            ("开始", form["start"]), ("结束", form["end"]), ("天数", str(form["days"])),
            ("交通", TRANSPORT[form["transport"]]),
            ("出省", "是" if form["out_of_province"] else "否")]
        if form.get("id_number"):
            fields.append(Field("身份证号", form["id_number"], "id_card"))
        if form.get("phone"):
            fields.append(Field("联系电话", form["phone"], "phone"))
        return fields

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        steps = [Step.one("部门负责人", routing.department_head)]
        if form["days"] > 3 or form["out_of_province"]:
            steps.append(Step.one("分管领导", routing.leader_in_charge))
        steps.append(Step("登记", org.unit_clerks(routing.dept_id), ("register",)))
        return steps
