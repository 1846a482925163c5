"""Read receipts in groups go to the senders of the newly read messages, never to the whole
group (in a 2,000-member group that would be quadratic), and are coalesced: each reader's
receipt in one conversation reaches those senders at most once a second."""

from __future__ import annotations

from collections import defaultdict

from chat.changes import Notifier
from chat.messages import MessageStore
from core.clock import Clock
from core.tasks import Periodic

FLUSH_SECONDS = 1.0


class ReceiptBatcher:
    def __init__(self, messages: MessageStore, notifier: Notifier, clock: Clock) -> None:
        self._messages = messages
        self._notifier = notifier
        self._clock = clock
        # conv_id -> reader -> (read_seq before the first read of this period, latest read_seq)
        self._pending: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
        self._flusher = Periodic(clock, FLUSH_SECONDS, self.flush, "read receipts")

    def add(self, conv_id: str, reader: str, before: int, after: int) -> None:
        readers = self._pending[conv_id]
        first, _ = readers.get(reader, (before, after))
        readers[reader] = (min(first, before), after)

    def start(self) -> None:
        self._flusher.start()

    async def stop(self) -> None:
        await self._flusher.stop()
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(dict)
        for conv_id, readers in pending.items():
            low = min(before for before, _ in readers.values())
            high = max(after for _, after in readers.values())
            senders = await self._messages.senders_between(conv_id, low, high)
            for reader, (before, after) in readers.items():
                audience = {s for seq, s in senders if before < seq <= after and s != reader}
                await self._notifier.push(audience, "msg:receipt",
                                          {"conv_id": conv_id, "user_id": reader,
                                           "read_seq": after})
