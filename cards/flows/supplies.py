"""办公用品: items and quantities; the department head approves; the clerk issues them."""

from __future__ import annotations

from typing import Any

from cards.flows.definition import APPROVE, ISSUE, REJECT, FlowDefinition, Step
from cards.flows.forms import only_fields
from cards.models import Action
from core.directory.service import Routing
from core.directory.tree import OrgTree
from core.errors import BadRequest

MAX_ITEMS = 20


class SuppliesFlow(FlowDefinition):
    name = "supplies"
    title = "办公用品申领"
    actions: tuple[Action, ...] = (APPROVE, REJECT, ISSUE)
    final_status = "issued"
    step_hours = 48.0

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        only_fields(form, {"items"}, "a supplies request")
        items = form.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
            raise BadRequest(f"form.items: 1 to {MAX_ITEMS} items")
        clean = []
        for n, item in enumerate(items):
            if not isinstance(item, dict) or set(item) != {"name", "quantity"}:
                raise BadRequest(f"form.items.{n}: {{name, quantity}}")
            name, quantity = item["name"], item["quantity"]
            if not isinstance(name, str) or not name.strip() or len(name) > 50:
                raise BadRequest(f"form.items.{n}.name: required, at most 50 characters")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or \
                    not 1 <= quantity <= 1000:
                raise BadRequest(f"form.items.{n}.quantity: a whole number from 1 to 1000")
            clean.append({"name": name.strip(), "quantity": quantity})
        return {"items": clean}

    def fields(self, form: dict[str, Any]) -> list[tuple[str, str]]:
        return [("物品", "、".join(f"{i['name']}×{i['quantity']}" for i in form["items"]))]

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        return [Step.one("部门负责人", routing.department_head),
                Step("发放", org.unit_clerks(routing.dept_id), ("issue",))]
