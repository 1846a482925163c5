"""Cards and flows (docs/protocol.md §4): `client.cards` and `client.flows`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

from xietong_sdk.base import Area, fields
from xietong_sdk.models import (
    Audit,
    Card,
    Delegation,
    FlowBox,
    FlowList,
    FlowStarted,
    StoredFile,
)


class Cards(Area):
    async def get(self, card_id: str) -> Card:
        """The card as this user sees it now (holders only)."""
        data = await self._call("card:get", {"card_id": card_id}, retry=True)
        return cast(Card, data["card"])

    async def act(self, card_id: str, action: str, version: int, key: str | None = None,
                  inputs: Mapping[str, Any] | None = None) -> Card:
        """Take `action` on the card at `version`; answers the card after the act.

        `key` is the idempotency key (made up when not given): the same key again answers
        the first outcome with no second effect, so a call cut off by a dropped connection
        is sent again once reconnected. A stale `version` raises `Conflict` whose
        `details["card"]` is the card as it is now.
        """
        data = await self._call("card:act", fields(
            card_id=card_id, action=action, version=version,
            idempotency_key=key or uuid.uuid4().hex,
            inputs=dict(inputs) if inputs else None), retry=True)
        return cast(Card, data["card"])

    async def share(self, card_id: str, conv_id: str) -> bool:
        """Share the card into a conversation; False when it was there already."""
        data = await self._call("card:share", {"card_id": card_id, "conv_id": conv_id},
                                retry=True)
        return bool(data["shared"])

    async def upload_attachment(self, name: str, data: bytes) -> StoredFile:
        """A file to list in a form's `attachments` (REST, `for=card`)."""
        return await self._rest.upload_attachment(name, data)


class Flows(Area):
    async def start(self, flow: str, form: Mapping[str, Any]) -> FlowStarted:
        """Start `flow` (`leave`, `trip`, ...) with `form`; a bad form raises `BadRequest`
        naming `form.<field>`."""
        data = await self._call("flow:start", {"flow": flow, "form": dict(form)})
        return cast(FlowStarted, data)

    async def list(self, box: FlowBox, limit: int | None = None) -> FlowList:
        """A box (to-do, `done` or `mine`), newest first, with every box's count."""
        data = await self._call("flow:list", fields(box=box, limit=limit), retry=True)
        return cast(FlowList, data)

    async def delegate(self, to: str | None, until: str | None = None) -> Delegation:
        """Name an acting substitute until `until` (ISO time with zone); None ends it."""
        payload: dict[str, Any] = {"to": to}
        if until is not None:
            payload["until"] = until
        data = await self._call("flow:delegate", payload, retry=True)
        return cast(Delegation, data)

    async def audit(self, instance_id: str) -> Audit:
        """The flow's audit log, with whether its hash chain verifies (REST)."""
        return cast(Audit, await self._rest.request("GET", f"/api/v1/flows/{instance_id}/audit"))
