"""The meeting-room catalogue (PROTOCOL §5, Catalogue), through REST against a real node:
who may create, change and retire rooms, how bodies are checked, how rooms are searched,
the edit log, and concurrent changes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rooms.models import Room
from signaling.app import Node
from signaling.errors import error_middleware, json_response
from signaling.rest.common import RequestContext
from signaling.rest.rooms import RoomRoutes
from tests.conftest import Api, NodeFactory

ROOMS = "/api/v1/rooms"
_buildings = itertools.count()

# A second unit beside the demo organisation: `dmgr` manages its rooms as the unit's room
# manager; `bmgr` holds the role with no unit, so only a scope set by an admin gives them rooms;
# `sleeper` cannot log in.
DISTRICT = {
    "format": "xietong-directory/1",
    "departments": [
        {"id": "district", "name": "区人民政府", "parent_id": None, "level": "county",
         "unit": True, "room_managers": ["dmgr"]},
        {"id": "district_office", "name": "区政府办", "parent_id": "district",
         "level": "section"},
    ],
    "users": [
        {"username": "dmgr", "name": "郑管理", "dept_id": "district", "title": "会议室管理员",
         "roles": ["room_manager"], "password": "demo"},
        {"username": "bmgr", "name": "冯管理", "dept_id": "district_office",
         "title": "会议室管理员", "roles": ["room_manager"], "password": "demo"},
        {"username": "sleeper", "name": "停用户", "dept_id": "district_office",
         "title": "科员", "roles": ["staff"], "password": "demo", "disabled": True},
    ],
}


def fresh_building() -> str:
    """A building of the test's own, so that the demo rooms and other tests stay out of it."""
    return f"测试楼{next(_buildings)}"


def room_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "小会议室", "building": "测试楼", "floor": "2",
                            "capacity": 10}
    body.update(fields)
    return body


def field_named(body: dict[str, Any]) -> str:
    """The field a `bad_request` names (checked to lead the message too)."""
    error = body["error"]
    assert error["code"] == "bad_request", body
    field = str(error["details"]["fields"][0]["field"])
    assert error["message"].startswith(f"{field}:"), body
    return field


class Rooms:
    """The catalogue's routes for one test, with tokens by username."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._tokens: dict[str, str] = {}

    def on(self, api: Api) -> Rooms:
        """The same people, logged in here, calling another edge of the deployment."""
        other = Rooms(api)
        other._tokens = self._tokens
        return other

    async def token(self, username: str) -> str:
        if username not in self._tokens:
            self._tokens[username] = await self.api.token(username)
        return self._tokens[username]

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.api.call(method, path, body, token=await self.token(who))

    async def create(self, who: str = "admin", **fields: Any) -> dict[str, Any]:
        status, body = await self.call(who, "POST", ROOMS, room_body(**fields))
        assert status == 201, body
        return body["room"]  # type: ignore[no-any-return]

    async def patch(self, who: str, room_id: str, changes: dict[str, Any]) -> tuple[int, Any]:
        return await self.call(who, "PATCH", f"{ROOMS}/{room_id}", changes)

    async def search(self, query: str, who: str = "staff01") -> list[dict[str, Any]]:
        status, body = await self.call(who, "GET", f"{ROOMS}?{query}")
        assert status == 200, body
        return body["rooms"]  # type: ignore[no-any-return]

    async def edits(self, room_id: str, who: str = "admin") -> list[dict[str, Any]]:
        status, body = await self.call(who, "GET", f"{ROOMS}/{room_id}/edits")
        assert status == 200, body
        return body["edits"]  # type: ignore[no-any-return]


@pytest.fixture
def rooms(api: Api) -> Rooms:
    return Rooms(api)


@pytest.fixture
async def district(rooms: Rooms) -> None:
    status, body = await rooms.call("admin", "POST", "/api/v1/directory/import", DISTRICT)
    assert status == 200, body


# --- creating and viewing ---------------------------------------------------------------------

async def test_an_admin_creates_a_room_that_every_logged_in_user_can_read(rooms: Rooms) -> None:
    room = await rooms.create(name="第三会议室", building="东楼", floor="4", capacity=16,
                              area_m2=40.5, equipment=["wifi", "projector", "wifi"],
                              requires_approval=True, managers=["roommgr"],
                              open_hours={"start": "07:30", "end": "21:00"}, dept_id="office")
    assert room["id"].startswith("room_")
    assert {k: v for k, v in room.items() if k != "id"} == {
        "name": "第三会议室", "building": "东楼", "floor": "4", "capacity": 16,
        "area_m2": 40.5, "equipment": ["projector", "wifi"], "requires_approval": True,
        "managers": ["roommgr"], "open_hours": {"start": "07:30", "end": "21:00"},
        "dept_id": "office", "window_days": 90, "max_hours": 8.0, "release_minutes": 10,
        "status": "active", "status_reason": None, "version": 1}
    status, body = await rooms.call("staff01", "GET", f"{ROOMS}/{room['id']}")
    assert status == 200 and body["room"] == room
    status, _ = await rooms.api.call("GET", f"{ROOMS}/{room['id']}")
    assert status == 401


async def test_a_new_room_gets_the_documented_defaults(rooms: Rooms) -> None:
    room = await rooms.create()
    assert room["open_hours"] == {"start": "08:00", "end": "18:00"}
    assert (room["equipment"], room["managers"], room["requires_approval"]) == ([], [], False)
    assert (room["area_m2"], room["dept_id"], room["status"]) == (None, None, "active")
    assert (room["window_days"], room["max_hours"], room["release_minutes"]) == (90, 8.0, 10)


async def test_an_unknown_room_is_not_found_for_every_route(rooms: Rooms) -> None:
    path = f"{ROOMS}/room_nosuch"
    for who, method, route in [("staff01", "GET", path), ("admin", "PATCH", path),
                               ("admin", "DELETE", path), ("admin", "GET", f"{path}/edits")]:
        status, body = await rooms.call(who, method, route, {"capacity": 3}
                                        if method == "PATCH" else None)
        assert (status, body["error"]["code"]) == (404, "not_found"), (method, route)


# --- who may change rooms ---------------------------------------------------------------------

async def test_the_units_room_manager_creates_rooms_of_departments_in_their_unit(
        rooms: Rooms) -> None:
    room = await rooms.create("roommgr", dept_id="office", building=fresh_building())
    assert room["dept_id"] == "office"
    unit_room = await rooms.create("roommgr", dept_id="gov", building=fresh_building())
    assert unit_room["dept_id"] == "gov"


async def test_a_room_manager_cannot_create_a_room_outside_their_scope(
        rooms: Rooms, district: None) -> None:
    # No department: only a building scope could cover it, and roommgr has none.
    status, body = await rooms.call("roommgr", "POST", ROOMS, room_body())
    assert (status, body["error"]["code"]) == (403, "forbidden")
    # Another unit's room manager has no say over the demo unit's departments.
    status, _ = await rooms.call("dmgr", "POST", ROOMS, room_body(dept_id="office"))
    assert status == 403
    status, _ = await rooms.call("roommgr", "POST", ROOMS, room_body(dept_id="district_office"))
    assert status == 403


async def test_people_without_the_room_manager_role_cannot_create_rooms(rooms: Rooms) -> None:
    for who in ("staff01", "director", "chief"):
        status, body = await rooms.call(who, "POST", ROOMS, room_body(dept_id="office"))
        assert (status, body["error"]["code"]) == (403, "forbidden"), who


async def test_a_building_scope_set_by_an_admin_covers_that_building_only(
        rooms: Rooms, district: None) -> None:
    east, west = fresh_building(), fresh_building()
    status, _ = await rooms.call("bmgr", "POST", ROOMS, room_body(building=east))
    assert status == 403
    status, body = await rooms.call("admin", "PUT", f"{ROOMS}/scopes/bmgr",
                                    {"buildings": [east]})
    assert status == 200, body
    assert body["scope"]["buildings"] == [east] and body["scope"]["dept_ids"] == []
    assert body["scope"]["updated_by"] == "admin"
    room = await rooms.create("bmgr", building=east)
    status, _ = await rooms.call("bmgr", "POST", ROOMS, room_body(building=west))
    assert status == 403
    # Any room of the building, whoever created it, is theirs to change.
    other = await rooms.create("admin", building=east, dept_id="office")
    status, body = await rooms.patch("bmgr", other["id"], {"capacity": 12})
    assert status == 200 and body["room"]["capacity"] == 12
    # ...but not to move out of their scope.
    status, _ = await rooms.patch("bmgr", room["id"], {"building": west})
    assert status == 403


async def test_a_department_scope_covers_the_department_and_every_one_below_it(
        rooms: Rooms, district: None) -> None:
    status, _ = await rooms.call("admin", "PUT", f"{ROOMS}/scopes/bmgr",
                                 {"dept_ids": ["district"]})
    assert status == 200
    below = await rooms.create("bmgr", dept_id="district_office", building=fresh_building())
    assert below["dept_id"] == "district_office"
    status, _ = await rooms.call("bmgr", "POST", ROOMS, room_body(dept_id="office"))
    assert status == 403
    status, body = await rooms.call("bmgr", "GET", f"{ROOMS}/scopes/bmgr")
    assert status == 200 and body["scope"]["dept_ids"] == ["district"]


async def test_everyone_else_gets_403_for_every_change_of_a_room(rooms: Rooms) -> None:
    room = await rooms.create(dept_id="office", managers=["roommgr"])
    path = f"{ROOMS}/{room['id']}"
    for who in ("staff01", "director"):
        status, _ = await rooms.patch(who, room["id"], {"capacity": 99})
        assert status == 403
        # Refused before any check of the version: forbidden comes before conflict.
        status, _ = await rooms.patch(who, room["id"], {"capacity": 99, "version": 7})
        assert status == 403
        status, _ = await rooms.call(who, "DELETE", path)
        assert status == 403
        status, _ = await rooms.call(who, "GET", f"{path}/edits")
        assert status == 403
    status, body = await rooms.call("staff01", "GET", path)
    assert status == 200 and body["room"]["capacity"] == room["capacity"]


async def test_a_manager_named_by_the_room_changes_it_without_the_role_but_cannot_move_it(
        rooms: Rooms) -> None:
    room = await rooms.create(managers=["staff02"], dept_id="office")
    status, body = await rooms.patch("staff02", room["id"], {"capacity": 14,
                                                             "managers": ["staff02", "staff03"]})
    assert status == 200 and body["room"]["managers"] == ["staff02", "staff03"]
    assert len(await rooms.edits(room["id"], who="staff02")) == 2
    status, _ = await rooms.patch("staff02", room["id"], {"dept_id": "finance"})
    assert status == 403
    status, _ = await rooms.patch("staff02", room["id"], {"building": fresh_building()})
    assert status == 403
    status, body = await rooms.call("staff02", "DELETE", f"{ROOMS}/{room['id']}")
    assert status == 200 and body["room"]["status"] == "retired"


async def test_only_admins_set_scopes_and_a_scope_names_existing_departments(
        rooms: Rooms, district: None) -> None:
    status, _ = await rooms.call("roommgr", "PUT", f"{ROOMS}/scopes/bmgr", {"buildings": ["x"]})
    assert status == 403
    status, body = await rooms.call("admin", "PUT", f"{ROOMS}/scopes/nobody",
                                    {"buildings": ["x"]})
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await rooms.call("admin", "PUT", f"{ROOMS}/scopes/bmgr",
                                    {"dept_ids": ["district", "nowhere"]})
    assert status == 400 and field_named(body) == "dept_ids.1"
    status, body = await rooms.call("admin", "PUT", f"{ROOMS}/scopes/bmgr", {"floors": ["1"]})
    assert status == 400 and field_named(body) == "floors"
    status, _ = await rooms.call("staff01", "GET", f"{ROOMS}/scopes/bmgr")
    assert status == 403
    status, body = await rooms.call("admin", "GET", f"{ROOMS}/scopes/bmgr")
    assert status == 200 and body["scope"] == {"user_id": "bmgr", "buildings": [],
                                               "dept_ids": [], "updated_by": None,
                                               "updated_at": None}


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "named"), [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "长" * 101}, "name"),
    ({"building": None}, "building"),
    ({"floor": 3}, "floor"),
    ({"capacity": 0}, "capacity"),
    ({"capacity": 5001}, "capacity"),
    ({"capacity": "12"}, "capacity"),
    ({"capacity": True}, "capacity"),
    ({"area_m2": 0}, "area_m2"),
    ({"area_m2": -3.5}, "area_m2"),
    ({"equipment": ["projector", "laser"]}, "equipment"),
    ({"equipment": "projector"}, "equipment"),
    ({"requires_approval": "yes"}, "requires_approval"),
    ({"managers": ["nobody"]}, "managers"),
    ({"managers": ["sleeper"]}, "managers"),
    ({"open_hours": {"start": "18:00", "end": "08:00"}}, "open_hours"),
    ({"open_hours": {"start": "09:00", "end": "09:00"}}, "open_hours"),
    ({"open_hours": {"start": "8:00", "end": "18:00"}}, "open_hours.start"),
    ({"open_hours": {"start": "08:00", "end": "24:00"}}, "open_hours.end"),
    ({"open_hours": {"start": "08:00"}}, "open_hours.end"),
    ({"dept_id": "nowhere"}, "dept_id"),
    ({"window_days": 0}, "window_days"),
    ({"window_days": 366}, "window_days"),
    ({"max_hours": 0.25}, "max_hours"),
    ({"max_hours": 25}, "max_hours"),
    ({"release_minutes": 0}, "release_minutes"),
    ({"release_minutes": 121}, "release_minutes"),
    ({"status": "closed"}, "status"),
    ({"status": "retired"}, "status"),
    ({"status": "maintenance"}, "status_reason"),
    ({"status_reason": "维修"}, "status_reason"),
    ({"colour": "blue"}, "colour"),
    ({"id": "room_mine"}, "id"),
])
async def test_a_bad_room_is_refused_naming_the_field(
        rooms: Rooms, district: None, fields: dict[str, Any], named: str) -> None:
    status, body = await rooms.call("admin", "POST", ROOMS, room_body(**fields))
    assert status == 400 and field_named(body) == named


async def test_a_room_missing_a_required_field_is_refused_naming_it(rooms: Rooms) -> None:
    for name in ("name", "building", "floor", "capacity"):
        body = room_body()
        del body[name]
        status, reply = await rooms.call("admin", "POST", ROOMS, body)
        assert status == 400 and field_named(reply) == name
    status, reply = await rooms.call("admin", "POST", ROOMS, ["not", "an", "object"])
    assert (status, reply["error"]["code"]) == (400, "bad_request")


async def test_a_bad_patch_is_refused_naming_the_field_and_changes_nothing(
        rooms: Rooms) -> None:
    room = await rooms.create()
    for changes, named in [({"capacity": -1}, "capacity"), ({"wings": 2}, "wings"),
                           ({"name": None}, "name"), ({"managers": ["nobody"]}, "managers"),
                           ({"capacity": 12, "version": "one"}, "version"),
                           ({"capacity": 12, "version": 0}, "version"),
                           ({"open_hours": {"start": "12:00", "end": "11:00"}}, "open_hours")]:
        status, body = await rooms.patch("admin", room["id"], changes)
        assert status == 400 and field_named(body) == named, changes
    status, body = await rooms.call("admin", "GET", f"{ROOMS}/{room['id']}")
    assert body["room"] == room
    assert len(await rooms.edits(room["id"])) == 1


# --- searching --------------------------------------------------------------------------------

async def test_search_lists_the_smallest_room_that_fits_first_then_by_name(rooms: Rooms) -> None:
    building = fresh_building()
    for name, capacity in [("B厅", 30), ("Z室", 10), ("A室", 10), ("C厅", 50), ("D室", 6)]:
        await rooms.create(name=name, building=building, capacity=capacity)
    found = await rooms.search(f"building={building}&min_capacity=10")
    assert [(r["name"], r["capacity"]) for r in found] == [
        ("A室", 10), ("Z室", 10), ("B厅", 30), ("C厅", 50)]
    found = await rooms.search(f"building={building}&min_capacity=25")
    assert [r["name"] for r in found] == ["B厅", "C厅"]
    everything = await rooms.search(f"building={building}")
    assert [r["name"] for r in everything] == ["D室", "A室", "Z室", "B厅", "C厅"]


async def test_search_by_equipment_finds_rooms_with_every_piece_listed(rooms: Rooms) -> None:
    building = fresh_building()
    await rooms.create(name="投影", building=building, equipment=["projector"])
    both = await rooms.create(name="两样", building=building, capacity=12,
                              equipment=["projector", "video_conf", "wifi"])
    await rooms.create(name="视频", building=building, capacity=14,
                       equipment=["video_conf", "wifi"])
    found = await rooms.search(f"building={building}&equipment=projector,video_conf")
    assert [r["id"] for r in found] == [both["id"]]
    found = await rooms.search(f"building={building}&equipment=projector")
    assert [r["name"] for r in found] == ["投影", "两样"]
    # The equipment changes: the search follows (the array is set whole).
    status, _ = await rooms.patch("admin", both["id"], {"equipment": ["wifi"]})
    assert status == 200
    found = await rooms.search(f"building={building}&equipment=projector")
    assert [r["name"] for r in found] == ["投影"]
    status, body = await rooms.call("staff01", "GET", f"{ROOMS}?equipment=projector,laser")
    assert status == 400 and field_named(body) == "equipment"


async def test_search_refuses_bad_parameters_naming_them(rooms: Rooms) -> None:
    for query, named in [("min_capacity=zero", "min_capacity"), ("min_capacity=0", "min_capacity"),
                         ("status=closed", "status"), ("floor=3", "floor"),
                         ("free_from=2026-11-23T01:00:00Z", "free_to"),
                         ("free_to=2026-11-23T01:00:00Z", "free_from"),
                         ("free_from=tomorrow&free_to=2026-11-23T01:00:00Z", "free_from"),
                         ("free_from=2026-11-23T01:00:00&free_to=2026-11-23T02:00:00Z",
                          "free_from"),
                         ("free_from=2026-11-23T02:00:00Z&free_to=2026-11-23T01:00:00Z",
                          "free_to")]:
        status, body = await rooms.call("staff01", "GET", f"{ROOMS}?{query}")
        assert status == 400 and field_named(body) == named, query


async def test_search_without_a_bookings_service_ignores_the_free_window(rooms: Rooms) -> None:
    building = fresh_building()
    await rooms.create(building=building)
    found = await rooms.search(f"building={building}&free_from=2026-11-23T01:00:00.000Z"
                               "&free_to=2026-11-23T02:00:00.000Z")
    assert len(found) == 1


async def test_search_leaves_out_retired_rooms_unless_asked(rooms: Rooms) -> None:
    building = fresh_building()
    kept = await rooms.create(name="留", building=building)
    gone = await rooms.create(name="撤", building=building, capacity=11)
    status, _ = await rooms.call("admin", "DELETE", f"{ROOMS}/{gone['id']}")
    assert status == 200
    assert [r["id"] for r in await rooms.search(f"building={building}")] == [kept["id"]]
    found = await rooms.search(f"building={building}&include_retired=true")
    assert [(r["id"], r["status"]) for r in found] == [(kept["id"], "active"),
                                                       (gone["id"], "retired")]
    found = await rooms.search(f"building={building}&status=retired")
    assert [r["id"] for r in found] == [gone["id"]]


# --- status, retirement, the edit log ---------------------------------------------------------

async def test_maintenance_needs_a_reason_and_returning_to_active_drops_it(rooms: Rooms) -> None:
    building = fresh_building()
    room = await rooms.create("roommgr", building=building, dept_id="office")
    status, body = await rooms.patch("roommgr", room["id"], {"status": "maintenance"})
    assert status == 400 and field_named(body) == "status_reason"
    status, body = await rooms.patch("roommgr", room["id"], {"status": "maintenance",
                                                             "status_reason": "更换投影仪"})
    assert status == 200
    assert (body["room"]["status"], body["room"]["status_reason"]) == ("maintenance", "更换投影仪")
    # Still listed (and shown as such) for people looking for rooms.
    found = await rooms.search(f"building={building}")
    assert [(r["id"], r["status"]) for r in found] == [(room["id"], "maintenance")]
    status, body = await rooms.patch("roommgr", room["id"], {"status": "active"})
    assert status == 200
    assert (body["room"]["status"], body["room"]["status_reason"]) == ("active", None)
    changes = [e["changes"] for e in await rooms.edits(room["id"], who="roommgr")][1:]
    assert changes == [
        {"status": ["active", "maintenance"], "status_reason": [None, "更换投影仪"]},
        {"status": ["maintenance", "active"], "status_reason": ["更换投影仪", None]}]


async def test_a_retired_room_stays_readable_and_retiring_it_again_changes_nothing(
        rooms: Rooms) -> None:
    room = await rooms.create("roommgr", dept_id="office", building=fresh_building())
    path = f"{ROOMS}/{room['id']}"
    status, body = await rooms.call("roommgr", "DELETE", path)
    assert status == 200 and body["room"]["status"] == "retired" and body["room"]["version"] == 2
    status, body = await rooms.call("staff01", "GET", path)
    assert status == 200 and body["room"]["status"] == "retired"
    status, again = await rooms.call("roommgr", "DELETE", path)
    assert status == 200 and again["room"] == body["room"]
    assert [e["action"] for e in await rooms.edits(room["id"])] == ["create", "retire"]


async def test_the_edit_log_records_who_when_and_each_field_from_and_to(
        node: Node, rooms: Rooms) -> None:
    room = await rooms.create(name="旧名", capacity=10, equipment=["wifi"])
    status, _ = await rooms.patch("admin", room["id"], {"name": "新名", "capacity": 12,
                                                        "equipment": ["wifi", "projector"],
                                                        "floor": "2"})
    assert status == 200
    # A change to what the room already is lands nowhere.
    status, body = await rooms.patch("admin", room["id"], {"capacity": 12})
    assert status == 200 and body["room"]["version"] == 2
    edits = await rooms.edits(room["id"])
    assert [(e["action"], e["version"], e["actor"]) for e in edits] == [
        ("create", 1, "admin"), ("update", 2, "admin")]
    created = edits[0]["changes"]
    assert created["name"] == [None, "旧名"] and created["capacity"] == [None, 10]
    assert created["open_hours"] == [None, {"start": "08:00", "end": "18:00"}]
    assert "area_m2" not in created  # unset stays unset
    assert edits[1]["changes"] == {"name": ["旧名", "新名"], "capacity": [10, 12],
                                   "equipment": [["wifi"], ["projector", "wifi"]]}
    for edit in edits:
        assert edit["room_id"] == room["id"]
        at = datetime.fromisoformat(edit["at"].replace("Z", "+00:00"))
        assert abs((at - node.clock.now()).total_seconds()) < 60
        assert edit["at"].endswith("Z") and len(edit["at"]) == 24


# --- concurrent changes -----------------------------------------------------------------------

async def test_a_patch_at_a_stale_version_gets_conflict_with_the_current_room(
        rooms: Rooms) -> None:
    room = await rooms.create()
    status, first = await rooms.patch("admin", room["id"], {"capacity": 11, "version": 1})
    assert status == 200 and first["room"]["version"] == 2
    status, body = await rooms.patch("admin", room["id"], {"floor": "9", "version": 1})
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert body["error"]["details"]["room"] == first["room"]
    status, body = await rooms.patch("admin", room["id"], {"floor": "9", "version": 2})
    assert status == 200 and body["room"]["floor"] == "9" and body["room"]["capacity"] == 11


async def test_concurrent_patches_of_different_fields_all_land_and_each_is_logged(
        rooms: Rooms) -> None:
    room = await rooms.create(dept_id="office", managers=["roommgr"])
    changes: list[tuple[str, dict[str, Any]]] = [
        ("admin", {"name": "并发室"}), ("roommgr", {"floor": "7"}),
        ("admin", {"capacity": 42}), ("roommgr", {"area_m2": 88.5}),
        ("admin", {"equipment": ["microphone", "wifi"]}),
        ("roommgr", {"requires_approval": True}), ("admin", {"window_days": 30}),
        ("roommgr", {"max_hours": 4}), ("admin", {"release_minutes": 15}),
        ("roommgr", {"open_hours": {"start": "09:00", "end": "17:30"}})]
    for who, _ in changes:
        await rooms.token(who)
    replies = await asyncio.gather(*(rooms.patch(who, room["id"], change)
                                     for who, change in changes))
    assert [status for status, _ in replies] == [200] * len(changes), replies
    status, body = await rooms.call("staff01", "GET", f"{ROOMS}/{room['id']}")
    assert status == 200
    final = body["room"]
    for _, change in changes:
        for name, value in change.items():
            assert final[name] == value, name
    assert final["version"] == 1 + len(changes)
    edits = await rooms.edits(room["id"])
    assert [e["version"] for e in edits] == list(range(1, len(changes) + 2))
    logged = sorted((e["actor"], next(iter(e["changes"]))) for e in edits[1:])
    assert logged == sorted((who, next(iter(change))) for who, change in changes)
    assert all(len(e["changes"]) == 1 for e in edits[1:])


async def test_concurrent_patches_at_the_same_version_let_exactly_one_win(rooms: Rooms) -> None:
    room = await rooms.create()
    await rooms.token("admin")
    replies = await asyncio.gather(*(rooms.patch("admin", room["id"],
                                                 {"capacity": 20 + i, "version": 1})
                                     for i in range(6)))
    statuses = sorted(status for status, _ in replies)
    assert statuses == [200] + [409] * 5
    winner = next(body["room"] for status, body in replies if status == 200)
    for status, body in replies:
        if status == 409:
            assert body["error"]["details"]["room"]["version"] == 2
    assert len(await rooms.edits(room["id"])) == 2
    status, body = await rooms.call("admin", "GET", f"{ROOMS}/{room['id']}")
    assert body["room"] == winner


async def test_other_services_hear_of_every_change_that_lands(node: Node, rooms: Rooms) -> None:
    heard: list[Room] = []

    async def listener(room: Room) -> None:
        heard.append(room)

    async def broken(room: Room) -> None:
        raise RuntimeError("a listener failing does not undo the change")

    node.services.rooms.on_change(broken)
    node.services.rooms.on_change(listener)
    room = await rooms.create()
    await rooms.patch("admin", room["id"], {"status": "maintenance", "status_reason": "漏水"})
    await rooms.patch("admin", room["id"], {"capacity": -1})  # refused: nothing to hear
    status, _ = await rooms.call("admin", "DELETE", f"{ROOMS}/{room['id']}")
    assert status == 200
    assert [(r.id, r.status.value, r.version) for r in heard] == [
        (room["id"], "active", 1), (room["id"], "maintenance", 2), (room["id"], "retired", 3)]


# --- demo rooms -------------------------------------------------------------------------------

async def test_the_demo_rooms_stand_in_the_main_building_managed_by_roommgr(
        rooms: Rooms, start_node: NodeFactory, http: aiohttp.ClientSession) -> None:
    found = await rooms.search("building=主楼")
    assert [r["capacity"] for r in found] == sorted(r["capacity"] for r in found)
    assert len(found) >= 3
    assert all(r["managers"] == ["roommgr"] and r["dept_id"] == "office" for r in found)
    assert sum(r["requires_approval"] for r in found) == 1
    assert len({frozenset(r["equipment"]) for r in found}) == len(found)
    # Another node of the same deployment seeds nothing twice.
    other = await start_node()
    again = await Rooms(Api(other.url, http)).search("building=主楼")
    assert again == found
    room = found[0]
    status, body = await rooms.patch("roommgr", room["id"], {"capacity": room["capacity"] + 1})
    assert status == 200 and body["room"]["version"] == 2


# --- the free-window filter and the availability route ----------------------------------------

class FakeBookings:
    """Stands in for the bookings service: the rooms it calls busy, and what it was asked."""

    def __init__(self) -> None:
        self.busy: set[str] = set()
        self.asked: list[tuple[list[str], datetime, datetime]] = []

    async def busy_rooms(self, room_ids: list[str], start: datetime,
                         end: datetime) -> set[str]:
        self.asked.append((room_ids, start, end))
        return self.busy & set(room_ids)


@pytest.fixture
async def edge(node: Node) -> AsyncIterator[tuple[str, FakeBookings]]:
    """An edge of the node's services with a bookings stand-in, whose own availability route
    is registered after the catalogue's."""
    bookings = FakeBookings()
    app = web.Application(middlewares=[error_middleware])
    RoomRoutes(node.services.rooms, RequestContext(node.services.auth), bookings).register(app)

    async def availability(request: web.Request) -> web.Response:
        return json_response({"availability": "bookings"})

    app.router.add_get("/api/v1/rooms/availability", availability)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", bookings
    await runner.cleanup()


async def test_a_free_window_leaves_out_the_rooms_the_bookings_service_calls_busy(
        rooms: Rooms, edge: tuple[str, FakeBookings], http: aiohttp.ClientSession) -> None:
    url, bookings = edge
    building = fresh_building()
    free = await rooms.create(name="空", building=building)
    taken = await rooms.create(name="满", building=building, capacity=12)
    bookings.busy = {taken["id"]}
    await rooms.token("staff01")
    local = rooms.on(Api(url, http))
    found = await local.search(f"building={building}&free_from=2026-11-23T09:00:00%2B08:00"
                               "&free_to=2026-11-23T01:30:00.000Z")
    assert [r["id"] for r in found] == [free["id"]]
    ids, start, end = bookings.asked[-1]
    assert sorted(ids) == sorted([free["id"], taken["id"]])
    assert (start, end) == (datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
                            datetime(2026, 11, 23, 1, 30, tzinfo=UTC))
    assert len(await local.search(f"building={building}")) == 2


async def test_the_availability_path_is_left_to_the_bookings_routes_in_any_order(
        edge: tuple[str, FakeBookings], http: aiohttp.ClientSession, rooms: Rooms) -> None:
    url, _ = edge
    status, body = await Api(url, http).call("GET", "/api/v1/rooms/availability",
                                             token=await rooms.token("staff01"))
    assert (status, body) == (200, {"availability": "bookings"})
