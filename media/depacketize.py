"""Frames out of RTP payloads, for recording (media/recorder.py): the bytes a decoder would
take, put together without decoding anything.

- VP8 (RFC 7741): a frame is the packets of one RTP timestamp, from the one whose payload
  descriptor has S=1 and PID=0 to the one with the marker bit, with no sequence number
  missing. A frame with a lost packet cannot be decoded, nor can any frame after it up to
  the next keyframe (each delta frame refers to the one before), so those are dropped and
  the track waits for a keyframe; the caller asks the publisher for one.
- Opus (RFC 7587): one packet is one frame.

H.264 is not depacketised: the SFU would forward it if a publisher insisted, but a Matroska
track of H.264 needs the stream's SPS and PPS as codec private data and its picture size, and
PyAV offers no way to set either without opening a decoder or encoder. Browsers and aiortc
offer VP8 first, which the SFU accepts, so the recorder leaves such a track out (and logs it).
"""

from __future__ import annotations

from dataclasses import dataclass

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
PATIENCE = 3          # complete frames behind a gap before the gap counts as lost
MAX_HELD = 1500       # packets held back behind a gap, whatever the patience


@dataclass(frozen=True, slots=True)
class RtpIn:
    """What the recorder copies out of one RTP packet on the live path."""

    seq: int
    timestamp: int
    marker: bool
    payload: bytes
    arrival: float  # time.time() when the SFU received it


@dataclass(frozen=True, slots=True)
class Frame:
    timestamp: int  # RTP timestamp, as sent (32 bits)
    data: bytes
    keyframe: bool
    arrival: float  # of its first packet


def vp8_descriptor_size(payload: bytes) -> int | None:
    """Length of the VP8 payload descriptor at the start of `payload`; None if it is cut."""
    if not payload:
        return None
    size = 1
    if payload[0] & 0x80:  # X: an extension byte follows
        if len(payload) < 2:
            return None
        ext = payload[1]
        size = 2
        if ext & 0x80:  # I: picture id, one byte or (M bit) two
            if len(payload) < 3:
                return None
            size += 2 if payload[2] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            size += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            size += 1
    return size if size < len(payload) else None


def vp8_starts_frame(payload: bytes) -> bool:
    """S=1 and partition id 0: the first packet of a frame."""
    return bool(payload) and (payload[0] & 0x1F) == 0x10


def vp8_is_keyframe(frame: bytes) -> bool:
    """The frame tag's P bit is 0 on a keyframe, and a keyframe carries the start code."""
    return len(frame) >= 10 and not frame[0] & 0x01 and frame[3:6] == b"\x9d\x01\x2a"


def vp8_size(keyframe: bytes) -> tuple[int, int]:
    """Width and height from a keyframe's header (the upper two bits are scaling)."""
    width = int.from_bytes(keyframe[6:8], "little") & 0x3FFF
    height = int.from_bytes(keyframe[8:10], "little") & 0x3FFF
    return width, height


class SequenceUnwrapper:
    """16-bit sequence numbers (or 32-bit timestamps) as an ever-growing count."""

    def __init__(self, modulus: int = SEQ_MOD) -> None:
        self._mod = modulus
        self._highest: int | None = None

    def __call__(self, value: int) -> int:
        if self._highest is None:
            self._highest = value
            return value
        half = self._mod // 2
        diff = (value - self._highest % self._mod + half) % self._mod - half
        extended = self._highest + diff
        self._highest = max(self._highest, extended)
        return extended


class Vp8Depacketizer:
    """Assembles VP8 frames in sequence order, waiting a little for late packets (NACKed
    ones come back as RTX a round trip later): a gap is given up once `patience` complete
    frames wait behind it. Video starts, and restarts after a loss, at a keyframe."""

    def __init__(self, patience: int = PATIENCE) -> None:
        self._patience = patience
        self._unwrap = SequenceUnwrapper()
        self._held: dict[int, RtpIn] = {}
        self._next: int | None = None  # the sequence number the next frame starts at
        self.waiting_keyframe = True
        self.lost_frames = 0

    def push(self, packet: RtpIn) -> list[Frame]:
        ext = self._unwrap(packet.seq)
        if self._next is None:
            if not vp8_starts_frame(packet.payload):
                return []  # joined in the middle of a frame
            self._next = ext
        if ext < self._next or ext in self._held:
            return []  # a retransmission of something already used or given up
        self._held[ext] = packet
        return self._drain()

    def _drain(self) -> list[Frame]:
        frames: list[Frame] = []
        while self._held and self._next is not None:
            end = self._complete_from(self._next)
            if end is not None:
                packets = [self._held.pop(k) for k in range(self._next, end + 1)]
                self._next = end + 1
                frame = self._assemble(packets)
                if frame is not None:
                    frames.append(frame)
                continue
            if not self._give_up_gap():
                break
        return frames

    def _complete_from(self, start: int) -> int | None:
        """The sequence number of the marker packet ending the frame at `start`, if every
        packet up to it is here."""
        seq = start
        while seq in self._held:
            if self._held[seq].marker:
                return seq
            seq += 1
        return None

    def _assemble(self, packets: list[RtpIn]) -> Frame | None:
        media = [p for p in packets if p.payload]  # padding carries no payload
        if not media:
            return None
        first = media[0]
        if not vp8_starts_frame(first.payload) or any(
                p.timestamp != first.timestamp for p in media):
            self._lose()  # its beginning went missing with a whole lost frame before it
            return None
        parts = []
        for p in media:
            size = vp8_descriptor_size(p.payload)
            if size is None:
                self._lose()
                return None
            parts.append(p.payload[size:])
        data = b"".join(parts)
        keyframe = vp8_is_keyframe(data)
        if self.waiting_keyframe and not keyframe:
            self.lost_frames += 1
            return None
        self.waiting_keyframe = False
        return Frame(first.timestamp, data, keyframe, first.arrival)

    def _give_up_gap(self) -> bool:
        """Drop the frame a missing packet broke, once enough later frames are complete (or
        too much waits); True if it moved on."""
        assert self._next is not None
        missing = self._next
        while missing in self._held:
            missing += 1
        later = sorted(k for k in self._held if k > missing)
        markers = sum(1 for k in later if self._held[k].marker)
        if markers < self._patience and len(self._held) < MAX_HELD:
            return False
        restart = next((k for k in later if vp8_starts_frame(self._held[k].payload)), None)
        if restart is None:
            return False
        for k in [k for k in self._held if k < restart]:
            del self._held[k]
        self._next = restart
        self._lose()
        return True

    def _lose(self) -> None:
        self.lost_frames += 1
        self.waiting_keyframe = True


class OpusDepacketizer:
    """One packet, one frame; a late duplicate (or one older than what was written) is
    dropped rather than written out of order."""

    def __init__(self) -> None:
        self._unwrap = SequenceUnwrapper(TS_MOD)
        self._last: int | None = None
        self.waiting_keyframe = False
        self.lost_frames = 0

    def push(self, packet: RtpIn) -> list[Frame]:
        if not packet.payload:
            return []
        ts = self._unwrap(packet.timestamp)
        if self._last is not None and ts <= self._last:
            return []
        self._last = ts
        return [Frame(packet.timestamp, packet.payload, True, packet.arrival)]
