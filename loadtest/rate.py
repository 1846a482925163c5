"""Pacing: when the n-th of a steady stream of sends is due. No I/O, no clock of its own."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Pacer:
    """`rate` sends per second, evenly spaced from `start` for `duration` seconds."""

    rate: float
    start: float
    duration: float

    @property
    def total(self) -> int:
        """How many sends the whole window holds."""
        return math.floor(self.rate * self.duration)

    @property
    def end(self) -> float:
        return self.start + self.duration

    def due(self, now: float) -> int:
        """How many sends should have gone by `now` (the first is due at `start`)."""
        if now < self.start:
            return 0
        return min(math.floor((now - self.start) * self.rate) + 1, self.total)

    def time_of(self, n: int) -> float:
        """When send number `n` (0-based) is due."""
        return self.start + n / self.rate
