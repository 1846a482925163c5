"""Per-subscriber RTP numbering: sequence numbers and timestamps that run on without a gap
or a jump backwards, whatever happens upstream (a new source, a pause, a skipped packet).

The idea is mediasoup's SeqManager: output = input + offset, and a new offset is taken
whenever the next forwarded packet does not follow the previous one in the same run."""

from __future__ import annotations

import secrets
from collections import deque

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
SKIPS_KEPT = 64  # skipped packets remembered, so that a late packet still maps right


def seq_newer(a: int, b: int) -> bool:
    """RFC 3550 serial comparison: is sequence number `a` after `b`?"""
    return a != b and (a - b) % SEQ_MOD < SEQ_MOD // 2


class StreamRewriter:
    """Maps one incoming RTP stream onto one outgoing stream."""

    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_in_seq: int | None = None
        self._last_out_seq: int | None = None
        self._last_out_ts = 0
        self._last_out_at = 0.0
        self._run_open = False
        self._skipped: deque[int] = deque(maxlen=SKIPS_KEPT)

    def restart(self) -> None:
        """The next packet starts a new run (another source, or resuming after a pause)."""
        self._run_open = False

    def rewrite(self, seq: int, timestamp: int, now: float) -> tuple[int, int]:
        if not self._run_open:
            self._open_run(seq, timestamp, now)
        offset = self._seq_offset
        last = self._last_in_seq
        if self._skipped and last is not None and not seq_newer(seq, last):
            # A late packet from before some skips: undo the skips that came after it.
            offset += sum(1 for skipped in self._skipped if seq_newer(skipped, seq))
        out_seq = (seq + offset) % SEQ_MOD
        out_ts = (timestamp + self._ts_offset) % TS_MOD
        if self._last_in_seq is None or seq_newer(seq, self._last_in_seq):
            self._last_in_seq = seq
            self._last_out_seq = out_seq
            self._last_out_ts = out_ts
            self._last_out_at = now
        return out_seq, out_ts

    def skip(self, seq: int) -> bool:
        """Leave out packet `seq` (padding) without a gap; only the next one in order can be
        left out, anything else is forwarded. Returns whether it was left out."""
        if not self._run_open or self._last_in_seq is None:
            return False
        if (seq - self._last_in_seq) % SEQ_MOD != 1:
            return False
        self._last_in_seq = seq
        self._seq_offset = (self._seq_offset - 1) % SEQ_MOD
        self._skipped.append(seq)
        return True

    def output_timestamp(self, timestamp: int) -> int:
        return (timestamp + self._ts_offset) % TS_MOD

    def _open_run(self, seq: int, timestamp: int, now: float) -> None:
        if self._last_out_seq is None:
            # A fresh stream starts at a random point, as any RTP sender's does.
            start_seq = secrets.randbelow(SEQ_MOD // 2)
            start_ts = secrets.randbelow(TS_MOD)
        else:
            start_seq = (self._last_out_seq + 1) % SEQ_MOD
            elapsed = max(1, int((now - self._last_out_at) * self.clock_rate))
            start_ts = (self._last_out_ts + elapsed) % TS_MOD
        self._seq_offset = (start_seq - seq) % SEQ_MOD
        self._ts_offset = (start_ts - timestamp) % TS_MOD
        self._last_in_seq = (seq - 1) % SEQ_MOD
        self._skipped.clear()
        self._run_open = True
