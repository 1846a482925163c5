"""Directory domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    DEPT_HEAD = "dept_head"
    HR = "hr"
    CLERK = "clerk"
    ROOM_MANAGER = "room_manager"
    STAFF = "staff"


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str
    dept_id: str | None
    title: str
    roles: tuple[str, ...]
    disabled: bool = False
    token_version: int = 0

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "name": self.name,
                "dept_id": self.dept_id, "title": self.title, "roles": list(self.roles)}


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    parent_id: str | None
    level: str
    unit: bool
    head: str | None
    in_charge: str | None
    hr: str | None
    clerks: tuple[str, ...]
    room_managers: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "parent_id": self.parent_id,
                "level": self.level, "unit": self.unit, "head": self.head,
                "in_charge": self.in_charge, "hr": self.hr, "clerks": list(self.clerks),
                "room_managers": list(self.room_managers)}
