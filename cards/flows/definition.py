"""What a flow definition provides to the engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cards.models import Action, Card, Field, Input
from core.directory.service import Routing
from core.directory.tree import OrgTree

APPROVE = Action("approve", "同意", style="primary", inputs=(Input("comment", "comment"),))
REJECT = Action("reject", "驳回", style="danger", status="rejected",
                inputs=(Input("comment", "comment", required=True),))
REGISTER = Action("register", "登记", style="primary", inputs=(Input("comment", "comment"),))
ISSUE = Action("issue", "发放", style="primary", inputs=(Input("comment", "comment"),))
SIGN = Action("sign", "签阅", style="primary",
              inputs=(Input("comment", "comment", required=True),))
RECORD = Action("record", "登记", style="primary", inputs=(Input("comment", "comment"),))
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


class FlowDefinition(ABC):
    """A flow as data for the one engine: its form, its steps, and what its decisions do.
    Each flow module subclasses this, setting what differs from these defaults."""

    name: str
    title: str
    actions: tuple[Action, ...]
    # The status once every step is done; whether the unit's hr gets a record card then.
    final_status: str
    record_to_hr: bool = False
    # Hours each step may take before those acting are reminded and then escalated.
    step_hours: float = 24.0
    # Form fields that are sensitive, and of which kind ("id_card", "phone"): kept only
    # encrypted on the card, masked in the stored form and the audit log.
    sensitive: tuple[tuple[str, str], ...] = ()
    # Actions that do not finish the actor's part of a step but open the next of theirs
    # (签收 then 办结): (action id, the actions open to them after it).
    stages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The flow whose finished instances this one follows, once each (销假 after a leave):
    # the form's `of` names the instance.
    follows: str | None = None
    # The form field listing file ids (uploaded with `for=card`) to put on the card.
    attachments: str | None = None

    @abstractmethod
    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        """The validated form; `BadRequest` naming the field otherwise."""

    def admit(self, applicant: str, routing: Routing, form: dict[str, Any], org: OrgTree,
              followed: Card | None) -> dict[str, Any]:
        """Checks that need the directory (or the followed instance) before the flow starts:
        `Forbidden` for someone who may not start it, `BadRequest` naming a field; returns
        the form, completed from what it follows."""
        return form

    @abstractmethod
    def fields(self, form: dict[str, Any]) -> Sequence[Field | tuple[str, str]]:
        """The card's fields for a parsed form."""

    @abstractmethod
    def chain(self, applicant: str, routing: Routing, form: dict[str, Any],
              org: OrgTree) -> list[Step]:
        """The steps, resolved from the directory as it is now."""

    def deadline_hours(self, form: dict[str, Any]) -> float:
        return self.step_hours
