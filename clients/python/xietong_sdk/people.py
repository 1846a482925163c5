"""People: `client.presence` (§2), `client.directory` and `client.admin` (§1, OA apps)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

from xietong_sdk.base import Area, Call, Caller, fields, seg
from xietong_sdk.models import App, Department, PresenceInfo, PresenceUpdate, Routing, User

MAX_WATCHED = 1000  # what one presence:subscribe takes


class Presence(Area):
    def __init__(self, client: Caller) -> None:
        super().__init__(client)
        self.watched: dict[str, None] = {}  # in the order subscribed

    async def subscribe(self, user_ids: Sequence[str]) -> dict[str, PresenceInfo]:
        """Their presence now; `presence` pushes follow whenever it changes. The client
        subscribes again after each reconnect and delivers their presence then as
        `presence` events."""
        data = await self._call("presence:subscribe", {"user_ids": list(user_ids)},
                                retry=True)
        self.watched.update(dict.fromkeys(user_ids))
        return cast(dict[str, PresenceInfo], data["presence"])

    async def unsubscribe(self, user_ids: Sequence[str]) -> None:
        for user_id in user_ids:
            self.watched.pop(user_id, None)
        await self._call("presence:unsubscribe", {"user_ids": list(user_ids)}, retry=True)

    async def restore(self, call: Call) -> list[tuple[str, Any]]:
        """Subscribe the new socket again; the presence it answers, as pushes."""
        watched = list(self.watched)[:MAX_WATCHED]
        if not watched:
            return []
        data = await call("presence:subscribe", {"user_ids": watched})
        return [("presence", {"user_id": user_id, **info})
                for user_id, info in data["presence"].items()]

    async def set(self, status: Literal["online", "away"]) -> PresenceUpdate:
        data = await self._call("presence:set", {"status": status}, retry=True)
        return cast(PresenceUpdate, data)


class Directory(Area):
    async def departments(self) -> list[Department]:
        answer = await self._rest.request("GET", "/api/v1/directory/departments")
        return cast(list[Department], answer["departments"])

    async def users(self, *, q: str | None = None, dept_id: str | None = None,
                    recursive: bool | None = None, limit: int | None = None) -> list[User]:
        answer = await self._rest.request("GET", "/api/v1/directory/users", params=fields(
            q=q, dept_id=dept_id, recursive=recursive, limit=limit))
        return cast(list[User], answer["users"])

    async def user(self, user_id: str) -> User:
        answer = await self._rest.request("GET", f"/api/v1/directory/users/{seg(user_id)}")
        return cast(User, answer["user"])

    async def routing(self, user_id: str) -> Routing:
        """Who approves for this person: department head, leader in charge, unit head..."""
        answer = await self._rest.request(
            "GET", f"/api/v1/directory/users/{seg(user_id)}/routing")
        return cast(Routing, answer["routing"])


class Admin(Area):
    """Routes for users with the `admin` role."""

    async def revoke(self, user_id: str) -> User:
        answer = await self._rest.request("POST", f"/api/v1/admin/users/{seg(user_id)}/revoke")
        return cast(User, answer["user"])

    async def set_password(self, user_id: str, password: str) -> User:
        answer = await self._rest.request(
            "POST", f"/api/v1/admin/users/{seg(user_id)}/password", {"password": password})
        return cast(User, answer["user"])

    async def import_directory(self, document: bytes, seconds: float = 300.0
                               ) -> dict[str, Any]:
        """Import an `xietong-directory/1` file (its bytes)."""
        answer = await self._rest.request("POST", "/api/v1/directory/import", raw=document,
                                          content_type="application/json", seconds=seconds)
        return cast(dict[str, Any], answer)

    async def register_app(self, name: str, callback_url: str) -> App:
        """An external application; the answer holds its `secret` (shown only here)."""
        return cast(App, await self._rest.request("POST", "/api/v1/apps", {
            "name": name, "callback_url": callback_url}))

    async def apps(self) -> list[App]:
        return cast(list[App], (await self._rest.request("GET", "/api/v1/apps"))["apps"])

    async def rotate_secret(self, app_id: str) -> App:
        return cast(App, await self._rest.request("POST", f"/api/v1/apps/{seg(app_id)}/secret"))
