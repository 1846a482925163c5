"""The demo organisation of PROTOCOL §1, seeded through the ordinary import path."""

from __future__ import annotations

from typing import Any

DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo password, loopback only


def demo_directory() -> dict[str, Any]:
    def dept(dept_id: str, name: str, head: str) -> dict[str, Any]:
        return {"id": dept_id, "name": name, "parent_id": "gov", "level": "section",
                "unit": False, "head": head, "in_charge": "deputy", "hr": None,
                "clerks": [], "room_managers": []}

    departments = [
        {"id": "gov", "name": "市人民政府", "parent_id": None, "level": "city", "unit": True,
         "head": "chief", "in_charge": None, "hr": "hr", "clerks": ["clerk"],
         "room_managers": ["roommgr"]},
        dept("office", "办公室", "director"),
        dept("finance", "财务科", "fin_head"),
        dept("planning", "规划科", "plan_head"),
        dept("hr", "人事科", "hr"),
    ]

    def user(username: str, name: str, dept_id: str | None, title: str,
             roles: list[str]) -> dict[str, Any]:
        return {"username": username, "name": name, "dept_id": dept_id, "title": title,
                "roles": roles, "password": DEMO_PASSWORD}

    users = [
        user("admin", "系统管理员", None, "管理员", ["admin"]),
        user("chief", "王建国", "gov", "市长", ["leader"]),
        user("deputy", "李副市", "gov", "副市长", ["leader"]),
        user("director", "张主任", "office", "办公室主任", ["dept_head"]),
        user("clerk", "赵文书", "office", "文书", ["clerk"]),
        user("fin_head", "钱科长", "finance", "财务科科长", ["dept_head"]),
        user("plan_head", "孙科长", "planning", "规划科科长", ["dept_head"]),
        user("hr", "周人事", "hr", "人事科科长", ["dept_head", "hr"]),
        user("roommgr", "吴管理", "office", "会议室管理员", ["room_manager"]),
    ]
    given = "一二三四五六七八九十"
    surnames = {"office": "陈", "finance": "林", "planning": "黄", "hr": "刘"}
    depts = ["office"] * 5 + ["finance"] * 5 + ["planning"] * 5 + ["hr"] * 5
    for number, dept_id in enumerate(depts, start=1):
        name = f"{surnames[dept_id]}{given[(number - 1) % 10]}{'' if number <= 10 else '号'}"
        users.append(user(f"staff{number:02d}", name, dept_id, "科员", ["staff"]))
    return {"format": "xietong-directory/1", "departments": departments, "users": users}
