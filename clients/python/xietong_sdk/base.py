"""What the per-area namespaces (`client.chat`, `client.cards`, ...) stand on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote

from xietong_sdk.rest import Rest

# The transport's call (`Connection.call`): an event's `data`, or its error raised.
Call = Callable[[str, Any], Awaitable[Any]]


class Caller(Protocol):
    rest: Rest

    async def call(self, event: str, payload: Any = None, *, seconds: float | None = None,
                   retry: bool = False) -> Any: ...


def fields(**values: Any) -> dict[str, Any]:
    """A payload of the values given, leaving out those that are None."""
    return {key: value for key, value in values.items() if value is not None}


def seg(value: str) -> str:
    """`value` quoted as one segment of a REST path."""
    return quote(value, safe="~")


class Area:
    def __init__(self, client: Caller) -> None:
        self._client = client

    @property
    def _rest(self) -> Rest:
        return self._client.rest

    async def _call(self, event: str, payload: dict[str, Any], *,
                    retry: bool = False) -> dict[str, Any]:
        """`data` of the reply. `retry`: the event is safe to send again (it reads, or it
        is idempotent by its key), so a drop before the answer waits for the reconnect and
        sends it again."""
        data = await self._client.call(event, payload, retry=retry)
        return data if isinstance(data, dict) else {}
