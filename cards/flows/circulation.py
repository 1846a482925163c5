"""公文流转: a document sent to several people at once; each signs with a comment; it is done
when the rule is met: all must sign (会签), any one (或签), or k of them."""

from __future__ import annotations

from typing import Any

from cards.flows.definition import SIGN, FlowDefinition, Step
from cards.flows.forms import a_text, only_fields
from cards.models import Action
from core.directory.service import Routing
from core.directory.tree import OrgTree
from core.errors import BadRequest

MAX_SIGNERS = 200


class CirculationFlow(FlowDefinition):
    name = "circulation"
    title = "公文流转"
    actions: tuple[Action, ...] = (SIGN,)
    final_status = "done"
    step_hours = 72.0

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        only_fields(form, {"title", "content", "to", "rule"}, "a circulation")
        to = form.get("to")
        if not isinstance(to, list) or not 1 <= len(to) <= MAX_SIGNERS or \
                not all(isinstance(u, str) and u for u in to):
            raise BadRequest(f"form.to: 1 to {MAX_SIGNERS} user ids")
        signers = list(dict.fromkeys(to))
        rule = form.get("rule", "all")
        if rule not in ("all", "any") and not (isinstance(rule, int) and
                                                not isinstance(rule, bool) and
                                                1 <= rule <= len(signers)):
            raise BadRequest(f"form.rule: all, any or a number from 1 to {len(signers)}")
        return {"title": a_text(form, "title", 200),
                "content": str(form.get("content") or "")[:5000], "to": signers,
                "rule": rule}

    def fields(self, form: dict[str, Any]) -> list[tuple[str, str]]:
        rule = form["rule"]
        names = {"all": "会签（全部）", "any": "或签（任一）"}
        label = names.get(rule, f"{rule}/{len(form['to'])}")
        return [("标题", form["title"]), ("规则", label), ("内容", form["content"])]

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        signers = tuple(form["to"])
        rule = form["rule"]
        need = len(signers) if rule == "all" else 1 if rule == "any" else int(rule)
        return [Step("签阅", signers, ("sign",), need)]
