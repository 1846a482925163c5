"""What a flow definition provides to the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.directory.service import Routing


@dataclass(frozen=True)
class Step:
    """One approval step: its name, shown in the timeline, and who acts."""

    name: str
    approver: str | None


class FlowDefinition(Protocol):
    name: str
    title: str

    def parse(self, form: dict[str, Any]) -> dict[str, Any]:
        """The validated form; `BadRequest` naming the field otherwise."""

    def fields(self, form: dict[str, Any]) -> list[tuple[str, str]]:
        """The card's fields for a parsed form."""

    def chain(self, applicant: str, routing: Routing, form: dict[str, Any]) -> list[Step]:
        """The approval steps, resolved from the directory as it is now."""
