"""What a flow definition provides to the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cards.models import Action, Input
from core.directory.service import Routing

APPROVE = Action("approve", "同意", style="primary", inputs=(Input("comment", "comment"),))
REJECT = Action("reject", "驳回", style="danger", status="rejected",
                inputs=(Input("comment", "comment", required=True),))
REGISTER = Action("register", "登记", style="primary", inputs=(Input("comment", "comment"),))
ISSUE = Action("issue", "发放", style="primary", inputs=(Input("comment", "comment"),))
SIGN = Action("sign", "签阅", style="primary",
              inputs=(Input("comment", "comment", required=True),))
DECISIONS = ("approve", "reject")


@dataclass(frozen=True)
class Step:
    """One step: its name (shown in the timeline), the people who act in it, the actions
    open to them, and how many must act before it is done (1: any one of them)."""

    name: str
    people: tuple[str | None, ...]
    actions: tuple[str, ...] = DECISIONS
    need: int = 1

    @classmethod
    def one(cls, name: str, person: str | None, actions: tuple[str, ...] = DECISIONS) -> Step:
        return cls(name, (person,), actions)


class FlowDefinition(Protocol):
    name: str
    title: str
    actions: tuple[Action, ...]
    # The status once every step is done; whether the unit's hr gets a record card then.
    final_status: str
    record_to_hr: bool
    # Hours each step may take before those acting are reminded and then escalated.
    step_hours: float

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        """The validated form; `BadRequest` naming the field otherwise."""

    def fields(self, form: dict[str, Any]) -> list[tuple[str, str]]:
        """The card's fields for a parsed form."""

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              clerks: tuple[str, ...]) -> list[Step]:
        """The steps, resolved from the directory as it is now."""
