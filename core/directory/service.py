"""Directory service: the tree, people search, routing answers and imports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.bus import DomainEvent, EventBus
from core.clock import Clock
from core.directory.importer import DirectoryImporter, ImportResult, parse_directory_file
from core.directory.models import Department, User
from core.directory.store import DirectoryStore
from core.directory.tree import OrgTree
from core.errors import BadRequest, NotFound

_TREE_RECHECK_SECONDS = 5.0
MAX_SEARCH_RESULTS = 200


@dataclass(frozen=True)
class Routing:
    """The answers an approval flow needs about one person."""

    user_id: str
    dept_id: str | None
    department_head: str | None
    leader_in_charge: str | None
    unit: Department | None
    unit_head: str | None
    parent_unit: Department | None
    parent_unit_head: str | None
    unit_hr: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "dept_id": self.dept_id,
                "department_head": self.department_head,
                "leader_in_charge": self.leader_in_charge,
                "unit_id": self.unit.id if self.unit else None, "unit_head": self.unit_head,
                "parent_unit_id": self.parent_unit.id if self.parent_unit else None,
                "parent_unit_head": self.parent_unit_head, "unit_hr": self.unit_hr}


DIRECTORY_CHANGED = "directory:changed"


class DirectoryService:
    def __init__(self, store: DirectoryStore, importer: DirectoryImporter, bus: EventBus,
                 clock: Clock) -> None:
        self._store = store
        self._importer = importer
        self._bus = bus
        self._clock = clock
        self._tree = OrgTree(())
        self._tree_version = -1
        self._tree_checked_at = float("-inf")
        # Each person's department, for routing: only an import changes it, and an import
        # moves the tree's version, which empties this.
        self._dept_of: dict[str, str | None] = {}

    async def get_tree(self) -> OrgTree:
        """The department tree, reloaded when another node's import has changed it."""
        now = self._clock.time()
        if now - self._tree_checked_at >= _TREE_RECHECK_SECONDS:
            version = await self._store.get_version()
            if version != self._tree_version:
                self._tree = OrgTree(await self._store.all_departments())
                self._tree_version = version
                self._dept_of = {}
            self._tree_checked_at = now
        return self._tree

    async def get_user(self, user_id: str) -> User:
        user = await self._store.get_user(user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        return user

    async def get_users(self, user_ids: list[str]) -> dict[str, User]:
        return await self._store.get_users(user_ids)

    async def names(self, user_ids: Sequence[str]) -> dict[str, str]:
        """Each known user's display name, for what people read (cards, minutes)."""
        return {u.id: u.name for u in (await self._store.get_users(list(user_ids))).values()}

    async def search_users(self, *, dept_id: str | None = None, query: str | None = None,
                           recursive: bool = False, limit: int = 50) -> list[User]:
        if not 1 <= limit <= MAX_SEARCH_RESULTS:
            raise BadRequest(f"limit must be between 1 and {MAX_SEARCH_RESULTS}")
        dept_ids = None
        if dept_id is not None:
            tree = await self.get_tree()
            if dept_id not in tree:
                raise NotFound(f"no department {dept_id}")
            dept_ids = tree.descendants(dept_id) if recursive else [dept_id]
        return await self._store.find_users(dept_ids=dept_ids, query=query, limit=limit)

    async def member_ids(self, dept_id: str) -> list[str]:
        """Everyone able to log in whose department is `dept_id` or below it."""
        tree = await self.get_tree()
        if dept_id not in tree:
            raise NotFound(f"no department {dept_id}")
        return await self._store.active_user_ids(tree.descendants(dept_id))

    async def get_routing(self, user_id: str) -> Routing:
        tree = await self.get_tree()
        dept_id = await self._department_of(user_id)
        parent_unit = tree.parent_unit(dept_id)
        return Routing(
            user_id=user_id, dept_id=dept_id,
            department_head=tree.department_head(dept_id),
            leader_in_charge=tree.leader_in_charge(dept_id),
            unit=tree.unit_of(dept_id), unit_head=tree.unit_head(dept_id),
            parent_unit=parent_unit,
            parent_unit_head=parent_unit.head if parent_unit else None,
            unit_hr=tree.unit_hr(dept_id))

    async def _department_of(self, user_id: str) -> str | None:
        if user_id in self._dept_of:
            return self._dept_of[user_id]
        version = self._tree_version
        user = await self.get_user(user_id)
        if version == self._tree_version:  # not read across a change of the directory
            self._dept_of[user_id] = user.dept_id
        return user.dept_id

    async def do_import(self, raw: Any) -> ImportResult:
        data = parse_directory_file(raw)
        result = await self._importer.apply(data)
        self._tree_checked_at = float("-inf")
        for user_id in result.disabled:
            await self._bus.publish(DomainEvent("auth:revoked", {"reason": "account_disabled"},
                                                audience=frozenset({user_id})))
        if result.changed:
            await self._bus.publish(DomainEvent(DIRECTORY_CHANGED, {}))
        return result
