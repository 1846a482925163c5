"""How long to wait before each reconnection attempt: exponential, capped, with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Attempt n (from 0) waits between half and all of `min(cap, base * factor**n)`
    seconds, so clients dropped together do not all come back at the same instant."""

    base: float = 0.5
    cap: float = 10.0
    factor: float = 2.0
    jitter: float = 0.5  # the share of the delay drawn at random

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < self.base or self.factor < 1:
            raise ValueError("Backoff needs 0 <= base <= cap and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff.jitter is a share between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * self.factor ** min(attempt, 64))
        draw = (rng or random).random()
        return ceiling * (1 - self.jitter * draw)

    @staticmethod
    def spread(seconds: float, share: float = 0.2, rng: random.Random | None = None) -> float:
        """`seconds` plus up to `share` of it at random (a server's `retry_after_ms`)."""
        return seconds * (1 + share * (rng or random).random())
