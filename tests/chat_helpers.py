"""Small steps the chat tests share."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import Client

_ids = itertools.count()


async def direct(client: Client, peer: str) -> str:
    data = await client.ok("conv:create", {"type": "direct", "members": [peer]})
    return str(data["conversation"]["id"])


async def group(client: Client, members: list[str], title: str = "group") -> str:
    data = await client.ok("conv:create", {"type": "group", "members": members, "title": title})
    return str(data["conversation"]["id"])


async def send(client: Client, conv_id: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    data = await client.ok("msg:send", {"conv_id": conv_id, "client_msg_id": f"m{next(_ids)}",
                                        "text": text, **extra})
    return data["message"]  # type: ignore[no-any-return]


def error_code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    return str(reply["error"]["code"])
