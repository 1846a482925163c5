"""Catching up after a reconnect (docs/protocol.md §3, "Change feed" and `msg:sync`).

`SyncState` remembers what the client has been given: the change-feed cursor, the highest
`seq` seen per conversation and, within a bounded window, the ids of messages and the exact
feed events delivered, so nothing reaches subscribers twice whether it came live, from the
feed or from `msg:sync`. `Resync` does the catching up: the feed's events since the cursor,
page by page, then every conversation's messages after its seq, delivered as `msg:new`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from xietong_sdk.base import Call
from xietong_sdk.errors import Forbidden, Gone

# The pushes the change feed also holds (same name, same data).
FEED_EVENTS = frozenset({"conv:new", "conv:updated", "conv:removed", "conv:dissolved",
                         "msg:recalled", "msg:edited", "card:update", "msg:receipt"})
FEED_PAGE = 500
SYNC_PAGE = 500
SYNC_MAX_CURSORS = 5000  # what one msg:sync accepts

Deliver = Callable[[str, Any], None]


class Recent:
    """A set that forgets its oldest entries beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Add `key`; False if it was there already."""
        if key in self._items:
            self._items.move_to_end(key)
            return False
        self._items[key] = None
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class SyncState:
    def __init__(self, window: int = 10_000) -> None:
        self.cursor: str | None = None
        self.seqs: dict[str, int] = {}
        self._messages = Recent(window)
        self._events = Recent(window)

    def admit(self, event: str, data: Any) -> bool:
        """Whether `event` is news to subscribers; notes what it tells either way."""
        if not isinstance(data, Mapping):
            return True
        if event == "msg:new":
            message = data.get("message")
            if not isinstance(message, Mapping):
                return True
            self.saw_message(message)
            return self._messages.add(message.get("id"))
        if event in FEED_EVENTS:
            if event == "conv:new":
                conversation = data.get("conversation")
                if isinstance(conversation, Mapping) and isinstance(conversation.get("id"), str):
                    # Messages sent there while this client is away come back from seq 0.
                    self.seqs.setdefault(conversation["id"], 0)
            elif event == "conv:removed" and isinstance(data.get("conv_id"), str):
                self.seqs.pop(data["conv_id"], None)  # msg:sync would be forbidden
            return self._events.add(event + json.dumps(data, sort_keys=True, default=str))
        return True

    def saw_message(self, message: Mapping[str, Any]) -> None:
        conv_id, seq = message.get("conv_id"), message.get("seq")
        if isinstance(conv_id, str) and isinstance(seq, int) and seq > self.seqs.get(conv_id, -1):
            self.seqs[conv_id] = seq

    def seed(self, inbox: Iterable[Mapping[str, Any]], *, prune: bool = False) -> None:
        """Take each listed conversation's `last_seq` where nothing newer was seen; `prune`
        forgets conversations the list no longer has."""
        listed: dict[str, int] = {}
        for entry in inbox:
            conv_id, last = entry.get("id"), entry.get("last_seq")
            if isinstance(conv_id, str):
                listed[conv_id] = last if isinstance(last, int) else 0
        if prune:
            self.seqs = {c: s for c, s in self.seqs.items() if c in listed}
        for conv_id, last in listed.items():
            self.seqs.setdefault(conv_id, last)


class Resync:
    """One catching up, over `call` (answers `data` or raises), handing each event to
    `deliver`, which is expected to pass it through `SyncState.admit`."""

    def __init__(self, state: SyncState, call: Call, deliver: Deliver, *,
                 track_all: bool = True) -> None:
        self.state = state
        self._call = call
        self._deliver = deliver
        self._track_all = track_all

    async def run(self) -> None:
        if self.state.cursor is None:
            await self.start()
        else:
            await self.replay_changes()
        await self.sync_messages()

    async def start(self) -> None:
        """First connection: the feed's current cursor and each conversation's last seq."""
        self.state.cursor = await self._current_cursor()
        if self._track_all:
            await self._seed()

    async def replay_changes(self) -> None:
        try:
            while True:
                page = await self._call("changes:since", {"cursor": self.state.cursor,
                                                          "limit": FEED_PAGE})
                for item in page.get("events", []):
                    self._deliver(str(item["event"]), item.get("data"))
                    self.state.cursor = str(item.get("cursor") or self.state.cursor)
                self.state.cursor = str(page["cursor"])
                if not page.get("has_more"):
                    return
        except Gone:
            # Away longer than the feed keeps: start afresh and say so (apps reload).
            self.state.cursor = await self._current_cursor()
            await self._seed(prune=True)
            self._deliver("sync:reset", {"reason": "gone", "cursor": self.state.cursor})

    async def sync_messages(self) -> None:
        retried = False
        while True:
            try:
                await self._sync_once()
                return
            except Forbidden:
                if retried:
                    raise
                retried = True  # removed from a conversation unseen: list them again
                await self._seed(prune=True)

    async def _sync_once(self) -> None:
        conv_ids = sorted(self.state.seqs)
        for start in range(0, len(conv_ids), SYNC_MAX_CURSORS):
            chunk = conv_ids[start:start + SYNC_MAX_CURSORS]
            while True:
                cursors = {c: self.state.seqs.get(c, 0) for c in chunk}
                page = await self._call("msg:sync", {"cursors": cursors, "limit": SYNC_PAGE})
                messages = page.get("messages", [])
                for message in messages:
                    self._deliver("msg:new", {"message": message})
                    self.state.saw_message(message)
                if not page.get("has_more") or not messages:
                    break

    async def _current_cursor(self) -> str:
        return str((await self._call("changes:since", {}))["cursor"])

    async def _seed(self, *, prune: bool = False) -> None:
        inbox = (await self._call("conv:list", {})).get("conversations", [])
        self.state.seed(inbox, prune=prune)
