"""Directory (PROTOCOL §1): the tree, search, routing questions and idempotent imports."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest

from core.directory.demo import demo_directory
from core.directory.models import Department
from core.directory.tree import OrgTree
from tests.conftest import SHARED, Api, Client, NodeFactory


@pytest.fixture(scope="module")
def org_large() -> dict[str, Any]:
    return json.loads((SHARED / "data" / "org-large.json").read_text())  # type: ignore[no-any-return]


def dept(dept_id: str, parent: str | None, *, unit: bool = False, head: str | None = None,
         in_charge: str | None = None) -> Department:
    return Department(dept_id, dept_id, parent, "", unit, head, in_charge, None, (), ())


def test_leader_in_charge_is_inherited_from_the_nearest_ancestor_naming_one() -> None:
    tree = OrgTree([dept("u", None, unit=True, head="boss", in_charge="vice"),
                    dept("sec", "u", head="lead"), dept("team", "sec")])
    assert tree.leader_in_charge("team") == "vice"
    assert tree.department_head("team") == "lead"
    assert tree.unit_head("team") == "boss"
    assert tree.parent_unit("team") is None


def test_the_parent_unit_is_the_unit_above_a_departments_own_unit() -> None:
    tree = OrgTree([dept("city", None, unit=True, head="mayor"),
                    dept("bureau", "city", unit=True, head="chief"),
                    dept("section", "bureau")])
    assert tree.unit_of("section").id == "bureau"  # type: ignore[union-attr]
    assert tree.parent_unit("section").id == "city"  # type: ignore[union-attr]


async def test_the_department_tree_is_nested(api: Api) -> None:
    status, body = await api.call("GET", "/api/v1/directory/departments",
                                  token=await api.token("staff01"))
    assert status == 200
    (gov,) = body["departments"]
    assert gov["id"] == "gov" and gov["unit"] is True and gov["head"] == "chief"
    assert sorted(c["id"] for c in gov["children"]) == ["finance", "hr", "office", "planning"]


async def test_people_are_found_by_name_pinyin_initials_and_department(api: Api) -> None:
    token = await api.token("staff01")

    async def search(query: str) -> list[str]:
        status, body = await api.call("GET", f"/api/v1/directory/users?{query}", token=token)
        assert status == 200, body
        return [u["id"] for u in body["users"]]

    assert await search("q=张主任") == ["director"]
    assert await search("q=zzr") == ["director"]  # 张主任 by initials
    assert await search("q=zhangzhu") == ["director"]
    assert await search("dept_id=finance") == ["fin_head", *[f"staff{n:02d}" for n in range(6, 11)]]
    assert "staff11" in await search("dept_id=gov&recursive=true&limit=200")
    status, body = await api.call("GET", "/api/v1/directory/users?dept_id=nowhere", token=token)
    assert status == 404
    status, body = await api.call("GET", "/api/v1/directory/users?limit=5000", token=token)
    assert status == 400 and "limit" in body["error"]["message"]
    status, _ = await api.call("GET", "/api/v1/directory/users?q=.*", token=token)
    assert status == 200  # a regex in the query is searched literally


async def test_the_directory_needs_a_login(api: Api) -> None:
    status, body = await api.call("GET", "/api/v1/directory/departments")
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_demo_routing_for_a_leave_goes_director_deputy_chief(api: Api) -> None:
    status, body = await api.call("GET", "/api/v1/directory/users/staff02/routing",
                                  token=await api.token("staff02"))
    assert status == 200
    routing = body["routing"]
    assert (routing["department_head"], routing["leader_in_charge"], routing["unit_head"]) == (
        "director", "deputy", "chief")
    assert routing["unit_hr"] == "hr" and routing["parent_unit_id"] is None


async def test_routing_follows_a_person_moved_to_another_department_by_import(
        api: Api) -> None:
    admin = await api.token("admin")
    status, body = await api.call("GET", "/api/v1/directory/users/staff02/routing", token=admin)
    before = body["routing"]
    moved = copy.deepcopy(demo_directory())
    person = next(u for u in moved["users"] if u["username"] == "staff02")
    other = next(d for d in moved["departments"]
                 if d.get("head") and d["id"] != before["dept_id"]
                 and d["head"] != before["department_head"])
    person["dept_id"] = other["id"]
    status, _ = await api.call("POST", "/api/v1/directory/import", moved, token=admin)
    assert status == 200
    status, body = await api.call("GET", "/api/v1/directory/users/staff02/routing", token=admin)
    assert body["routing"]["dept_id"] == other["id"]
    assert body["routing"]["department_head"] == other["head"]


async def test_only_admins_import(api: Api) -> None:
    status, _ = await api.call("POST", "/api/v1/directory/import", demo_directory(),
                               token=await api.token("staff01"))
    assert status == 403


async def test_importing_the_demo_again_changes_nothing(api: Api) -> None:
    status, body = await api.call("POST", "/api/v1/directory/import", demo_directory(),
                                  token=await api.token("admin"))
    assert status == 200
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 0, 34)


async def test_a_bad_file_is_refused_whole_and_changes_nothing(api: Api) -> None:
    admin = await api.token("admin")
    broken = copy.deepcopy(demo_directory())
    broken["users"].append({"username": "newbie", "name": "新人", "dept_id": "office",
                            "password": "demo"})
    broken["departments"][1]["head"] = "ghost"
    status, body = await api.call("POST", "/api/v1/directory/import", broken, token=admin)
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert any("ghost" in p for p in body["error"]["details"]["problems"])
    status, _ = await api.call("GET", "/api/v1/directory/users/newbie", token=admin)
    assert status == 404
    cyclic = copy.deepcopy(demo_directory())
    cyclic["departments"][0]["parent_id"] = "office"
    status, body = await api.call("POST", "/api/v1/directory/import", cyclic, token=admin)
    assert status == 400 and "cycle" in body["error"]["message"]


async def test_a_reimport_never_resets_a_password(api: Api) -> None:
    session = await api.login("staff05")
    await api.call("POST", "/api/v1/auth/password",
                   {"old_password": "demo", "new_password": "changed-by-me"},
                   token=session["token"])
    await api.call("POST", "/api/v1/directory/import", demo_directory(),
                   token=await api.token("admin"))
    await api.login("staff05", "changed-by-me")
    status, _ = await api.call("POST", "/api/v1/auth/login",
                               {"username": "staff05", "password": "demo"})
    assert status == 401


async def test_a_user_disabled_by_import_loses_access_at_once(node, api: Api, clients) -> None:  # type: ignore[no-untyped-def]
    session = await api.login("staff09")
    client: Client = clients(node.url)
    await client.connect(session["token"])
    changed = copy.deepcopy(demo_directory())
    for user in changed["users"]:
        if user["username"] == "staff09":
            user["disabled"] = True
    status, body = await api.call("POST", "/api/v1/directory/import", changed,
                                  token=await api.token("admin"))
    assert status == 200 and body["updated"] == 1
    assert await client.wait_for("auth:revoked") == {"reason": "account_disabled"}
    await asyncio.wait_for(client.disconnected.wait(), 10)
    status, _ = await api.call("GET", "/api/v1/auth/me", token=session["token"])
    assert status == 401
    status, _ = await api.call("POST", "/api/v1/auth/login",
                               {"username": "staff09", "password": "demo"})
    assert status == 401


async def test_two_nodes_seeding_the_demo_at_once_end_with_one_organisation(
        start_node: NodeFactory, config, http) -> None:  # type: ignore[no-untyped-def]
    a, _ = await asyncio.gather(start_node(node_id="a"), start_node(node_id="b"))
    api = Api(a.url, http)
    _, body = await api.call("POST", "/api/v1/directory/import", demo_directory(),
                                  token=await api.token("admin"))
    assert (body["created"], body["updated"]) == (0, 0)
    assert await a.db["users"].count_documents({}) == 29


async def test_org_large_imports_idempotently_and_answers_routing(
        start_node: NodeFactory, http, org_large: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    node = await start_node(demo=False)
    await node.services.directory.do_import(demo_directory())  # for an admin
    api = Api(node.url, http)
    admin = await api.token("admin")
    status, body = await api.call("POST", "/api/v1/directory/import", org_large, token=admin)
    assert status == 200, body
    assert body["users"]["created"] == 2285 and body["departments"]["created"] == 456
    status, again = await api.call("POST", "/api/v1/directory/import", org_large, token=admin)
    assert (again["created"], again["updated"]) == (0, 0)
    assert again["unchanged"] == 2285 + 456

    depts = {d["id"]: d for d in org_large["departments"]}
    users = {u["username"]: u for u in org_large["users"]}
    deepest = max(users.values(), key=lambda u: _depth(depts, u["dept_id"]))
    assert _depth(depts, deepest["dept_id"]) >= 4
    status, body = await api.call("GET", f"/api/v1/directory/users/{deepest['username']}/routing",
                                  token=admin)
    routing = body["routing"]
    expected_unit = _nearest(depts, deepest["dept_id"], lambda d: d["unit"])
    assert routing["unit_id"] == expected_unit["id"]
    assert routing["unit_head"] == expected_unit["head"]
    assert routing["leader_in_charge"] == _nearest(
        depts, deepest["dept_id"], lambda d: d["in_charge"] is not None)["in_charge"]
    parent_unit = _nearest(depts, expected_unit["parent_id"], lambda d: d["unit"])
    assert routing["parent_unit_id"] == parent_unit["id"]
    assert routing["parent_unit_head"] == parent_unit["head"]
    await api.login(deepest["username"], deepest.get("password", "demo"))


def _depth(depts: dict[str, Any], dept_id: str | None) -> int:
    depth = 0
    while dept_id is not None:
        depth += 1
        dept_id = depts[dept_id]["parent_id"]
    return depth


def _nearest(depts: dict[str, Any], dept_id: str | None, test: Any) -> dict[str, Any]:
    while dept_id is not None:
        if test(depts[dept_id]):
            return depts[dept_id]  # type: ignore[no-any-return]
        dept_id = depts[dept_id]["parent_id"]
    raise AssertionError("no such ancestor")
