"""The department tree and the routing questions approval flows ask of it. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from core.directory.models import Department


class OrgTree:
    def __init__(self, departments: Iterable[Department]) -> None:
        self._by_id = {d.id: d for d in departments}
        self._children: dict[str | None, list[str]] = {}
        for dept in sorted(self._by_id.values(), key=lambda d: d.id):
            self._children.setdefault(dept.parent_id, []).append(dept.id)

    def __contains__(self, dept_id: object) -> bool:
        return dept_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, dept_id: str | None) -> Department | None:
        return self._by_id.get(dept_id) if dept_id is not None else None

    def ancestors(self, dept_id: str | None) -> Iterator[Department]:
        """The department itself, then its parent, up to the root."""
        seen: set[str] = set()
        dept = self.get(dept_id)
        while dept is not None and dept.id not in seen:
            seen.add(dept.id)
            yield dept
            dept = self.get(dept.parent_id)

    def descendants(self, dept_id: str) -> list[str]:
        """The department and every department below it."""
        found, stack = [], [dept_id]
        while stack:
            current = stack.pop()
            if current in self._by_id:
                found.append(current)
                stack.extend(self._children.get(current, ()))
        return found

    # Routing questions -------------------------------------------------------------------

    def unit_of(self, dept_id: str | None) -> Department | None:
        """The nearest unit (单位) at or above a department."""
        return next((d for d in self.ancestors(dept_id) if d.unit), None)

    def department_head(self, dept_id: str | None) -> str | None:
        """Who heads a department: its head, or the nearest head above it."""
        return next((d.head for d in self.ancestors(dept_id) if d.head), None)

    def leader_in_charge(self, dept_id: str | None) -> str | None:
        """The leader in charge (分管领导), inherited from the nearest ancestor naming one."""
        return next((d.in_charge for d in self.ancestors(dept_id) if d.in_charge), None)

    def unit_head(self, dept_id: str | None) -> str | None:
        unit = self.unit_of(dept_id)
        return unit.head if unit else None

    def parent_unit(self, dept_id: str | None) -> Department | None:
        """The unit above the unit a department belongs to."""
        unit = self.unit_of(dept_id)
        return self.unit_of(unit.parent_id) if unit else None

    def unit_hr(self, dept_id: str | None) -> str | None:
        return next((d.hr for d in self.ancestors(dept_id) if d.unit and d.hr), None)

    def unit_clerks(self, dept_id: str | None) -> tuple[str, ...]:
        unit = self.unit_of(dept_id)
        return unit.clerks if unit else ()

    def unit_room_managers(self, dept_id: str | None) -> tuple[str, ...]:
        unit = self.unit_of(dept_id)
        return unit.room_managers if unit else ()

    def nested(self) -> list[dict[str, Any]]:
        """The tree as nested wire objects, children sorted by id."""

        def build(dept_id: str) -> dict[str, Any]:
            node = self._by_id[dept_id].to_wire()
            node["children"] = [build(c) for c in self._children.get(dept_id, ())]
            return node

        roots = [d for d in self._by_id.values() if d.parent_id not in self._by_id]
        return [build(d.id) for d in sorted(roots, key=lambda d: d.id)]
