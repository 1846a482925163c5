"""Writing the RTP packets of one forwarded stream, fast.

The SFU writes every packet once per subscriber, so this is the hottest code of a meeting.
aiortc's `RtpPacket.serialize` builds an object and walks every known header extension for
each packet; here the parts that never change for a stream (its SSRC, payload type and the
mid element, RFC 8843) are packed once, and a packet is one `struct.pack` plus the payload.

Header extensions follow RFC 8285: the one-byte form when every id is 1..14 and every value
1..16 bytes long (always so for the ids we agree and our short mids), the two-byte form
otherwise."""

from __future__ import annotations

import struct
from collections.abc import Sequence

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE = 0x1000
_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")
_RTX_OSN = struct.Struct("!H")
_VERSION_2 = 0x80
_EXTENSION_BIT = 0x10


def sequence_number(packet: bytes) -> int:
    return int.from_bytes(packet[2:4], "big")


class RtpWriter:
    """Packs packets for one outgoing stream (and its RTX stream)."""

    def __init__(self, *, ssrc: int, payload_type: int, rtx_ssrc: int | None = None,
                 rtx_payload_type: int | None = None, mid: str | None = None,
                 mid_id: int | None = None, abs_send_time_id: int | None = None,
                 audio_level_id: int | None = None) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.rtx_ssrc = rtx_ssrc
        self.rtx_payload_type = rtx_payload_type
        mid_value = mid.encode() if mid is not None and mid_id else b""
        ids = [i for i in (mid_id, abs_send_time_id, audio_level_id) if i]
        self._one_byte = all(i <= 14 for i in ids) and len(mid_value) <= 16
        self._abs_send_time = self._element_head(abs_send_time_id, 3)
        self._audio_level = self._element_head(audio_level_id, 1)
        self._mid = self._element_head(mid_id, len(mid_value)) + mid_value if mid_value else b""

    def _element_head(self, ext_id: int | None, length: int) -> bytes:
        if not ext_id:
            return b""
        if self._one_byte:
            return bytes(((ext_id << 4) | (length - 1),))
        return bytes((ext_id, length))

    def packet(self, *, marker: int, sequence_number: int, timestamp: int, payload: bytes,
               abs_send_time: int | None = None,
               audio_level: tuple[bool, int] | None = None,
               csrc: Sequence[int] = ()) -> bytes:
        return self._write(self.payload_type, self.ssrc, marker, sequence_number, timestamp,
                           payload, abs_send_time, audio_level, csrc)

    def rtx(self, original: bytes, rtx_sequence_number: int,
            abs_send_time: int | None = None) -> bytes:
        """A retransmission of `original` (a packet this writer wrote) on the RTX stream
        (RFC 4588): the original sequence number first, then the original payload."""
        if self.rtx_payload_type is None or self.rtx_ssrc is None:
            raise ValueError("this stream has no RTX stream")
        first, second, sequence_number, timestamp, _ssrc = _HEADER.unpack_from(original)
        csrc_count = first & 0x0F
        start = _HEADER.size + 4 * csrc_count
        csrc = struct.unpack_from(f"!{csrc_count}I", original, _HEADER.size)
        if first & _EXTENSION_BIT:
            _profile, words = _EXTENSION_HEADER.unpack_from(original, start)
            start += _EXTENSION_HEADER.size + 4 * words
        return self._write(self.rtx_payload_type, self.rtx_ssrc, second & 0x80,
                           rtx_sequence_number, timestamp,
                           _RTX_OSN.pack(sequence_number) + original[start:],
                           abs_send_time, None, csrc)

    def _write(self, payload_type: int, ssrc: int, marker: int, sequence_number: int,
               timestamp: int, payload: bytes, abs_send_time: int | None,
               audio_level: tuple[bool, int] | None, csrc: Sequence[int]) -> bytes:
        extension = self._mid
        if abs_send_time is not None and self._abs_send_time:
            extension += self._abs_send_time + (abs_send_time & 0xFFFFFF).to_bytes(3, "big")
        if audio_level is not None and self._audio_level:
            vad, level = audio_level
            extension += self._audio_level + bytes(((0x80 if vad else 0) | (level & 0x7F),))
        first = _VERSION_2 | (_EXTENSION_BIT if extension else 0) | len(csrc)
        head = _HEADER.pack(first, (0x80 if marker else 0) | payload_type, sequence_number,
                            timestamp, ssrc)
        if csrc:
            head += struct.pack(f"!{len(csrc)}I", *csrc)
        if not extension:
            return head + payload
        extension += b"\x00" * (-len(extension) % 4)
        profile = ONE_BYTE_PROFILE if self._one_byte else TWO_BYTE_PROFILE
        return head + _EXTENSION_HEADER.pack(profile, len(extension) // 4) + extension + payload
