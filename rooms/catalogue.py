"""The meeting-room catalogue (PROTOCOL §5, Catalogue): rooms, who may change them, and the
log of every change.

Everyone logged in may look rooms up. Admins may change every room; anyone else only a room
that names them among its `managers`, or, holding the `room_manager` role, a room inside their
scope: its building is one an admin gave them, or its department is one an admin gave them or
lies below one, or they are a room manager of the unit (单位) the room's department belongs to.
Creating a room, and moving one to another building or department, takes that scope (or an
admin) for where the room ends up.

Changes are compare-and-set on the room's `version`. A change that names the version it was
made against fails with `conflict` (carrying the current room) if the room moved on meanwhile;
one that names none is applied to whatever the room is now, re-read and retried until it lands,
so concurrent edits of different fields all land. Each change that lands appends one entry to
the room's edit log and is told to every listener registered with `on_change`."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, time
from typing import Any, Protocol

from core.clock import Clock
from core.directory.models import Role, User
from core.directory.service import DirectoryService
from core.directory.tree import OrgTree
from core.errors import BadRequest, Conflict, Forbidden, NotFound
from rooms.catalogue_store import LISTED, RoomEdit, RoomScope, RoomStore
from rooms.forms import RoomForm, ScopeForm, parse_form, refusal
from rooms.models import EQUIPMENT, OpenHours, Room, RoomStatus

log = logging.getLogger(__name__)

RoomListener = Callable[[Room], Awaitable[None]]
# A change naming no version is retried this often against other writers before `conflict`.
MAX_ATTEMPTS = 50
CREATE, UPDATE, RETIRE = "create", "update", "retire"
# The fields a client sets, in wire order.
FIELDS = ("name", "building", "floor", "capacity", "area_m2", "equipment", "requires_approval",
          "managers", "open_hours", "dept_id", "window_days", "max_hours", "release_minutes",
          "status", "status_reason")


class BusyRooms(Protocol):
    """What the catalogue's search asks of the bookings service for a free-window filter."""

    async def busy_rooms(self, room_ids: list[str], start: datetime,
                         end: datetime) -> set[str]: ...


def new_room_id() -> str:
    return f"room_{secrets.token_hex(8)}"


def _settable(room: Room) -> dict[str, Any]:
    wire = room.to_wire()
    return {name: wire[name] for name in FIELDS}


def _diff(before: Room | None, after: Room) -> dict[str, list[Any]]:
    old = _settable(before) if before is not None else dict.fromkeys(FIELDS)
    new = _settable(after)
    return {name: [old[name], new[name]] for name in FIELDS if old[name] != new[name]}


def _room(room_id: str, form: RoomForm, status_reason: str | None, version: int) -> Room:
    return Room(id=room_id, name=form.name, building=form.building, floor=form.floor,
                capacity=form.capacity, area_m2=form.area_m2,
                equipment=frozenset(form.equipment), requires_approval=form.requires_approval,
                managers=tuple(form.managers),
                open_hours=OpenHours(time.fromisoformat(form.open_hours.start),
                                     time.fromisoformat(form.open_hours.end)),
                dept_id=form.dept_id, window_days=form.window_days, max_hours=form.max_hours,
                release_minutes=form.release_minutes, status=form.status,
                status_reason=status_reason, version=version)


def _status_reason(form: RoomForm, given: Mapping[str, Any], before: Room | None) -> str | None:
    """The reason that goes with the room's status: required for maintenance, none while
    active; a change of status without a new reason drops the old one."""
    reason = form.status_reason
    status_changed = before is None or form.status is not before.status
    if status_changed and "status_reason" not in given:
        reason = None
    if form.status is RoomStatus.ACTIVE:
        if "status_reason" in given and reason is not None:
            raise refusal("status_reason", "only for a room in maintenance or retired")
        return None
    if form.status is RoomStatus.MAINTENANCE and reason is None:
        raise refusal("status_reason", "required when status is maintenance")
    return reason


class RoomCatalogue:
    def __init__(self, store: RoomStore, directory: DirectoryService, clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._clock = clock
        self._listeners: list[RoomListener] = []

    def on_change(self, callback: RoomListener) -> None:
        """Call `callback(room)` after every create, update and retire that lands, in the
        order registered; a failing listener is logged and does not undo the change."""
        self._listeners.append(callback)

    # viewing -----------------------------------------------------------------------------

    async def get(self, room_id: str) -> Room:
        room = await self._store.get(room_id)
        if room is None:
            raise NotFound(f"no room {room_id}")
        return room

    async def search(self, *, min_capacity: int | None = None, equipment: Iterable[str] = (),
                     building: str | None = None,
                     statuses: Iterable[RoomStatus] | None = None,
                     include_retired: bool = False) -> list[Room]:
        """Rooms that hold `min_capacity`, have every piece of `equipment`, stand in
        `building`; active and in maintenance (and retired with `include_retired`) unless
        `statuses` says which; the smallest that fits first, then by name."""
        wanted = list(equipment)
        unknown = [e for e in wanted if e not in EQUIPMENT]
        if unknown:
            raise refusal("equipment", f"unknown equipment {', '.join(map(repr, unknown))}; "
                                       f"one of {', '.join(EQUIPMENT)}")
        if min_capacity is not None and min_capacity < 1:
            raise refusal("min_capacity", "at least 1")
        if statuses is None:
            statuses = (*LISTED, RoomStatus.RETIRED) if include_retired else LISTED
        return await self._store.find(statuses=statuses, min_capacity=min_capacity,
                                      building=building, equipment=wanted)

    async def edits(self, actor_id: str, room_id: str) -> list[RoomEdit]:
        """The room's edit log, oldest first: for those who may change the room."""
        room = await self.get(room_id)
        actor = await self._directory.get_user(actor_id)
        if not await self._may_manage(actor, room):
            raise Forbidden("only the room's managers and administrators see its edits")
        return await self._store.edits(room_id)

    async def may_manage(self, actor_id: str, room: Room) -> bool:
        """Whether this person may change the room (and decide on its bookings)."""
        return await self._may_manage(await self._directory.get_user(actor_id), room)

    # changes -----------------------------------------------------------------------------

    async def create(self, actor_id: str, payload: Any) -> Room:
        actor = await self._directory.get_user(actor_id)
        if not (actor.has_role(Role.ADMIN) or actor.has_role(Role.ROOM_MANAGER)):
            raise Forbidden("only room managers and administrators create rooms")
        form = parse_form(RoomForm, payload)
        if form.status is RoomStatus.RETIRED:
            raise refusal("status", "a new room is active or in maintenance")
        room = _room(new_room_id(), form, _status_reason(form, payload, None), version=1)
        if not actor.has_role(Role.ADMIN) and not await self._scope_covers(
                actor, room.building, room.dept_id):
            raise Forbidden(f"building {room.building!r} and department {room.dept_id!r} "
                            "are outside your scope")
        await self._check_references(room, payload)
        if not await self._store.insert(room):  # 64 random bits: never in practice
            raise Conflict(f"room {room.id} exists already")
        await self._landed(actor, None, room, CREATE)
        return room

    async def update(self, actor_id: str, room_id: str, changes: Any,
                     version: int | None = None) -> Room:
        """Apply `changes` (wire fields) to the room. With `version`, only if the room is
        still at it (`conflict` with `details.room` otherwise); without, to the room as it is
        now, however many other writers land first."""
        if not isinstance(changes, Mapping):
            raise BadRequest("payload must be a JSON object")
        actor = await self._directory.get_user(actor_id)
        for _ in range(MAX_ATTEMPTS):
            current = await self.get(room_id)
            if not await self._may_manage(actor, current):
                raise Forbidden(f"you do not manage room {room_id}")
            merged = {**_settable(current), **changes}
            form = parse_form(RoomForm, merged)
            room = _room(current.id, form, _status_reason(form, changes, current),
                         version=current.version + 1)
            if (room.building, room.dept_id) != (current.building, current.dept_id) and \
                    not actor.has_role(Role.ADMIN) and \
                    not await self._scope_covers(actor, room.building, room.dept_id):
                raise Forbidden(f"building {room.building!r} and department {room.dept_id!r} "
                                "are outside your scope")
            await self._check_references(room, changes)
            if version is not None and version != current.version:
                raise Conflict(f"room {room_id} is at version {current.version}, not {version}",
                               {"room": current.to_wire()})
            if not _diff(current, room):
                return current
            stored = await self._store.compare_and_set(room, current.version)
            if stored is not None:
                retired = stored.status is RoomStatus.RETIRED and \
                    current.status is not RoomStatus.RETIRED
                await self._landed(actor, current, stored, RETIRE if retired else UPDATE)
                return stored
            if version is not None:
                now = await self.get(room_id)
                raise Conflict(f"room {room_id} is at version {now.version}, not {version}",
                               {"room": now.to_wire()})
        raise Conflict(f"room {room_id} is changing too often; retry")

    async def retire(self, actor_id: str, room_id: str, version: int | None = None) -> Room:
        """Take the room out of use for good (it stays readable); retiring a retired room
        changes nothing."""
        current = await self.get(room_id)
        if current.status is RoomStatus.RETIRED:
            if not await self.may_manage(actor_id, current):
                raise Forbidden(f"you do not manage room {room_id}")
            return current
        return await self.update(actor_id, room_id, {"status": str(RoomStatus.RETIRED)}, version)

    # scopes ------------------------------------------------------------------------------

    async def set_scope(self, admin_id: str, user_id: str, payload: Any) -> RoomScope:
        """Replace what a room manager manages beyond the rooms naming them (admins only).
        The scope takes effect while the user holds the `room_manager` role."""
        admin = await self._directory.get_user(admin_id)
        if not admin.has_role(Role.ADMIN):
            raise Forbidden("administrators only")
        await self._directory.get_user(user_id)
        form = parse_form(ScopeForm, payload)
        tree = await self._directory.get_tree()
        for index, dept_id in enumerate(form.dept_ids):
            if dept_id not in tree:
                raise refusal(f"dept_ids.{index}", f"no department {dept_id}")
        return await self._store.set_scope(RoomScope(
            user_id=user_id, buildings=tuple(form.buildings), dept_ids=tuple(form.dept_ids),
            updated_by=admin_id, updated_at=self._clock.now()))

    async def get_scope(self, actor_id: str, user_id: str) -> RoomScope:
        """A room manager's scope, for themselves and admins (empty if none was set)."""
        actor = await self._directory.get_user(actor_id)
        if actor_id != user_id and not actor.has_role(Role.ADMIN):
            raise Forbidden("a scope is for its holder and administrators")
        await self._directory.get_user(user_id)
        return await self._store.get_scope(user_id) or RoomScope(user_id)

    # inside ------------------------------------------------------------------------------

    async def _may_manage(self, actor: User, room: Room) -> bool:
        return actor.has_role(Role.ADMIN) or actor.id in room.managers or \
            await self._scope_covers(actor, room.building, room.dept_id)

    async def _scope_covers(self, actor: User, building: str, dept_id: str | None) -> bool:
        if not actor.has_role(Role.ROOM_MANAGER):
            return False
        scope = await self._store.get_scope(actor.id)
        if scope is not None and building in scope.buildings:
            return True
        if dept_id is None:
            return False
        tree = await self._directory.get_tree()
        if actor.id in tree.unit_room_managers(dept_id):
            return True
        return scope is not None and _within(tree, dept_id, scope.dept_ids)

    async def _check_references(self, room: Room, given: Mapping[str, Any]) -> None:
        """Managers named are people able to log in; a department named exists."""
        if "managers" in given and room.managers:
            users = await self._directory.get_users(list(room.managers))
            bad = [m for m in room.managers if m not in users or users[m].disabled]
            if bad:
                raise refusal("managers", f"unknown or disabled users: {', '.join(bad)}")
        if "dept_id" in given and room.dept_id is not None:
            tree = await self._directory.get_tree()
            if room.dept_id not in tree:
                raise refusal("dept_id", f"no department {room.dept_id}")

    async def _landed(self, actor: User, before: Room | None, after: Room, action: str) -> None:
        await self._store.append_edit(RoomEdit(
            room_id=after.id, version=after.version, actor=actor.id, at=self._clock.now(),
            action=action, changes=_diff(before, after)))
        for listener in self._listeners:
            try:
                await listener(after)
            except Exception:
                log.exception("room listener failed for %s (version %d)", after.id,
                              after.version)


def _within(tree: OrgTree, dept_id: str, scope_dept_ids: Iterable[str]) -> bool:
    """Whether the department is one of `scope_dept_ids` or lies below one of them."""
    wanted = set(scope_dept_ids)
    return dept_id in wanted or any(d.id in wanted for d in tree.ancestors(dept_id))
