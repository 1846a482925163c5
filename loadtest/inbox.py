"""Who received which card, and which version of it, when: the card pushes of every socket
of a load test, timed on arrival, with waits for a set of users to have one.

A card reaches a user as a chat `msg:new` whose message carries `{"card": {"card_id", ...}}`,
and every change as `card:update {"card_id", "version", "card"}` (PROTOCOL §4). The raw
packet is timed before anything else, then only the card id (and the version) is picked out
of it with a regular expression: a thousand holders' pushes come in one burst, and decoding
each in full would delay the timing of those behind it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection
from dataclasses import dataclass

#: The version that stands for "the card itself arrived as a message" (versions start at 1).
DELIVERY = 0

_MSG_NEW = '42["msg:new",'
_CARD_UPDATE = '42["card:update",'
_CARD_ID = re.compile(r'"card_id":"([^"]+)"')
# The first "version" of a card:update is its own (`card_id`, `version`, then `card`); were
# the order different, the nested card's version is the same number.
_VERSION = re.compile(r'"version":(\d+)')

Key = tuple[str, int]


@dataclass
class _Wait:
    missing: set[str]
    done: asyncio.Future[None]


class CardInbox:
    """`arrivals[(card_id, version)][user_id]` is the `perf_counter_ns` at which the user
    first received that card (version `DELIVERY`) or that `card:update`. Repeats are
    counted in `duplicates`, not timed."""

    def __init__(self) -> None:
        self.arrivals: dict[Key, dict[str, int]] = {}
        self.duplicates = 0
        self._waits: dict[Key, list[_Wait]] = {}

    def on_push(self, user_id: str, packet: str) -> None:
        """A push to one of `user_id`'s sockets (give each socket a partial of this)."""
        if packet.startswith(_MSG_NEW):
            update = False
        elif packet.startswith(_CARD_UPDATE):
            update = True
        else:
            return
        now = time.perf_counter_ns()
        found = _CARD_ID.search(packet)
        if found is None:
            return
        version = DELIVERY
        if update:
            number = _VERSION.search(packet)
            if number is None:
                return
            version = int(number.group(1))
        key = (found.group(1), version)
        got = self.arrivals.setdefault(key, {})
        if user_id in got:
            self.duplicates += 1
            return
        got[user_id] = now
        for wait in self._waits.get(key, ()):
            wait.missing.discard(user_id)
            if not wait.missing and not wait.done.done():
                wait.done.set_result(None)

    async def wait(self, card_id: str, version: int, users: Collection[str],
                   seconds: float) -> dict[str, int]:
        """When each of `users` received the card (`DELIVERY`) or its `version`, once all
        have or after `seconds`; those still missing then are left out."""
        key = (card_id, version)
        got = self.arrivals.setdefault(key, {})
        missing = set(users) - got.keys()
        if missing:
            wait = _Wait(missing, asyncio.get_running_loop().create_future())
            waits = self._waits.setdefault(key, [])
            waits.append(wait)
            try:
                async with asyncio.timeout(seconds):
                    await wait.done
            except TimeoutError:
                pass
            finally:
                waits.remove(wait)
                if not waits:
                    del self._waits[key]
        return {user: got[user] for user in users if user in got}
