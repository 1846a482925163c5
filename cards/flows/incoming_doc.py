"""收文: a unit's clerk registers a document received from outside; the office director
proposes how to handle it (拟办); the leader in charge, then the head of the unit, instruct
(批示); then each department it is dispatched to signs for it (签收), handles it and marks it
done (办结), each at its own pace. Deadlines follow the document's urgency."""

from __future__ import annotations

from typing import Any

from cards.flows.definition import FlowDefinition, Step
from cards.flows.forms import a_date, a_text, only_fields
from cards.models import Action, Card, Input
from core.directory.service import Routing
from core.directory.tree import OrgTree
from core.errors import BadRequest, Forbidden

PROPOSE = Action("propose", "拟办", style="primary",
                 inputs=(Input("comment", "comment", required=True),))
INSTRUCT = Action("instruct", "批示", style="primary",
                  inputs=(Input("comment", "comment", required=True),))
RECEIVE = Action("receive", "签收", style="primary")
COMPLETE = Action("complete", "办结", style="primary", inputs=(Input("comment", "comment"),))

URGENCY = {"normal": "平件", "urgent": "急件", "very_urgent": "特急"}
_STEP_HOURS = {"normal": 72.0, "urgent": 24.0, "very_urgent": 4.0}
MAX_DEPARTMENTS = 50
MAX_ATTACHMENTS = 20


class IncomingDocFlow(FlowDefinition):
    name = "incoming_doc"
    title = "收文"
    actions: tuple[Action, ...] = (PROPOSE, INSTRUCT, RECEIVE, COMPLETE)
    final_status = "done"
    stages = (("receive", ("complete",)),)
    attachments = "attachments"

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        only_fields(form, {"title", "issuer", "doc_number", "urgency", "received_on",
                           "summary", "departments", "attachments"}, "an incoming document")
        urgency = form.get("urgency", "normal")
        if urgency not in URGENCY:
            raise BadRequest(f"form.urgency: one of {', '.join(URGENCY)}")
        departments = form.get("departments")
        if not isinstance(departments, list) or \
                not 1 <= len(departments) <= MAX_DEPARTMENTS or \
                not all(isinstance(d, str) and d for d in departments):
            raise BadRequest(f"form.departments: 1 to {MAX_DEPARTMENTS} department ids")
        attachments = form.get("attachments", [])
        if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS or \
                not all(isinstance(f, str) and f for f in attachments):
            raise BadRequest(f"form.attachments: at most {MAX_ATTACHMENTS} file ids")
        summary = form.get("summary") or ""
        if not isinstance(summary, str) or len(summary) > 5000:
            raise BadRequest("form.summary: at most 5000 characters")
        received_on = a_date(form, "received_on").isoformat() if "received_on" in form \
            else None
        return {"title": a_text(form, "title", 200), "issuer": a_text(form, "issuer", 100),
                "doc_number": a_text(form, "doc_number", 100), "urgency": urgency,
                "received_on": received_on, "summary": summary.strip(),
                "departments": list(dict.fromkeys(departments)),
                "attachments": list(dict.fromkeys(attachments))}

    def admit(self, applicant: str, routing: Routing, form: dict[str, Any], org: OrgTree,
              followed: Card | None) -> dict[str, Any]:
        if applicant not in org.unit_clerks(routing.dept_id):
            raise Forbidden("only a clerk of the unit registers incoming documents")
        for dept_id in form["departments"]:
            if dept_id not in org:
                raise BadRequest(f"form.departments: no department {dept_id}")
            if org.department_head(dept_id) is None:
                raise BadRequest(f"form.departments: {dept_id} has no head to sign for it")
        return form

    def fields(self, form: dict[str, Any]) -> list[tuple[str, str]]:
        fields = [("标题", form["title"]), ("来文单位", form["issuer"]),
                  ("文号", form["doc_number"]), ("缓急", URGENCY[form["urgency"]])]
        if form["received_on"]:
            fields.append(("收文日期", form["received_on"]))
        if form["summary"]:
            fields.append(("摘要", form["summary"]))
        return fields

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        heads = tuple(dict.fromkeys(org.department_head(d) for d in form["departments"]))
        return [Step.one("拟办", routing.department_head, ("propose",)),
                Step.one("分管领导批示", routing.leader_in_charge, ("instruct",)),
                Step.one("主要领导批示", routing.unit_head, ("instruct",)),
                Step("签收办结", heads, ("receive",), need=len(heads))]

    def deadline_hours(self, form: dict[str, Any]) -> float:
        return _STEP_HOURS[form["urgency"]]
