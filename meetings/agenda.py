"""A meeting's agenda (议程): the items in the order they are taken, each with a stable id that
materials and minutes refer to, so renaming or reordering an item keeps what hangs on it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from core.errors import BadRequest

MAX_ITEMS = 50


@dataclass(frozen=True)
class AgendaItem:
    id: str
    title: str
    presenter: str | None = None
    minutes: int | None = None  # how long it is planned to take

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "presenter": self.presenter,
                "minutes": self.minutes}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AgendaItem:
        return cls(id=doc["id"], title=doc["title"], presenter=doc.get("presenter"),
                   minutes=doc.get("minutes"))

    def line(self, names: dict[str, str]) -> str:
        """The item as the invitation card shows it."""
        extra = [names.get(self.presenter, self.presenter)] if self.presenter else []
        if self.minutes:
            extra.append(f"{self.minutes}分钟")
        return self.title + (f"（{'，'.join(extra)}）" if extra else "")


def revise_agenda(current: tuple[AgendaItem, ...],
                  wanted: list[dict[str, Any]]) -> tuple[AgendaItem, ...]:
    """The agenda as `wanted` lists it: an item naming an id keeps it (it must be one of
    `current`'s), one without gets a new id."""
    if len(wanted) > MAX_ITEMS:
        raise BadRequest(f"agenda: at most {MAX_ITEMS} items")
    known = {item.id for item in current}
    seen: set[str] = set()
    items = []
    for index, item in enumerate(wanted):
        item_id = item.get("id")
        if item_id is not None:
            if item_id not in known:
                raise BadRequest(f"agenda[{index}].id: no item {item_id} on this agenda")
            if item_id in seen:
                raise BadRequest(f"agenda[{index}].id: {item_id} is listed twice")
        else:
            item_id = f"item_{secrets.token_hex(4)}"
        seen.add(item_id)
        items.append(AgendaItem(item_id, item["title"], item.get("presenter"),
                                item.get("minutes")))
    return tuple(items)


def agenda_lines(agenda: tuple[AgendaItem, ...], names: dict[str, str]) -> str:
    return "\n".join(f"{n}. {item.line(names)}" for n, item in enumerate(agenda, 1)) or "（无）"
