"""The SFU's own RTP writing agrees with aiortc's parser and serialiser byte for byte, so that
every browser reads what the fast path writes as it would read aiortc's packets."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx

from media.rtp_writer import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    RtpWriter,
    sequence_number,
)

PAYLOAD = bytes(range(256)) * 4


def extensions_map(mid_id: int, abs_id: int, level_id: int) -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=mid_id, uri=MID_URI),
        RTCRtpHeaderExtensionParameters(id=abs_id, uri=ABS_SEND_TIME_URI),
        RTCRtpHeaderExtensionParameters(id=level_id, uri=AUDIO_LEVEL_URI)]))
    return extensions


def aiortc_packet(mid: str, *, marker: int, seq: int, ts: int, level: tuple[bool, int] | None,
                  abs_send_time: int, csrc: list[int]) -> RtpPacket:
    packet = RtpPacket(payload_type=111, marker=marker, sequence_number=seq, timestamp=ts,
                       ssrc=0xDEADBEEF, payload=PAYLOAD)
    packet.csrc = csrc
    packet.extensions.mid = mid
    packet.extensions.abs_send_time = abs_send_time
    packet.extensions.audio_level = level
    return packet


@pytest.mark.parametrize("mid, ids", [
    ("0", (1, 3, 2)),                            # aiortc's default ids: one-byte form
    ("12", (4, 9, 14)),                          # the highest one-byte id
    ("m" * 17, (1, 3, 2)),                       # a mid too long for one byte: two-byte form
    ("1", (15, 3, 2)),                           # an id above 14: two-byte form
])
@pytest.mark.parametrize("level, csrc, marker", [
    ((True, 30), [], 1),
    (None, [7, 8], 0),
    ((False, 127), [1], 0),
])
def test_a_written_packet_is_byte_for_byte_what_aiortc_serialises(
        mid: str, ids: tuple[int, int, int], level: tuple[bool, int] | None, csrc: list[int],
        marker: int) -> None:
    mid_id, abs_id, level_id = ids
    writer = RtpWriter(ssrc=0xDEADBEEF, payload_type=111, mid=mid, mid_id=mid_id,
                       abs_send_time_id=abs_id, audio_level_id=level_id)
    written = writer.packet(marker=marker, sequence_number=65535, timestamp=(1 << 32) - 1,
                            payload=PAYLOAD, abs_send_time=0xABCDEF, audio_level=level,
                            csrc=csrc)
    expected = aiortc_packet(mid, marker=marker, seq=65535, ts=(1 << 32) - 1, level=level,
                             abs_send_time=0xABCDEF, csrc=csrc)
    extensions = extensions_map(mid_id, abs_id, level_id)
    assert written == expected.serialize(extensions)
    parsed = RtpPacket.parse(written, extensions)
    assert (parsed.extensions.mid, parsed.extensions.audio_level) == (mid, level)
    assert parsed.payload == PAYLOAD


def test_extensions_not_agreed_are_left_out() -> None:
    writer = RtpWriter(ssrc=5, payload_type=96, mid="3")
    written = writer.packet(marker=0, sequence_number=1, timestamp=2, payload=b"abc",
                            abs_send_time=99, audio_level=(True, 3))
    assert written == RtpPacket(payload_type=96, sequence_number=1, timestamp=2, ssrc=5,
                                payload=b"abc").serialize(HeaderExtensionsMap())
    assert written[0] & 0x10 == 0  # no extension block at all


@pytest.mark.parametrize("csrc", [[], [42, 43]])
def test_a_retransmission_on_the_rtx_stream_unwraps_to_the_original(csrc: list[int]) -> None:
    extensions = extensions_map(1, 3, 2)
    writer = RtpWriter(ssrc=1111, payload_type=96, rtx_ssrc=2222, rtx_payload_type=97, mid="4",
                       mid_id=1, abs_send_time_id=3)
    sent = writer.packet(marker=1, sequence_number=4321, timestamp=777, payload=PAYLOAD,
                         abs_send_time=5, csrc=csrc)
    assert sequence_number(sent) == 4321
    rtx = RtpPacket.parse(writer.rtx(sent, rtx_sequence_number=9, abs_send_time=6), extensions)
    assert (rtx.ssrc, rtx.payload_type, rtx.sequence_number) == (2222, 97, 9)
    assert (rtx.extensions.mid, rtx.extensions.abs_send_time, rtx.csrc) == ("4", 6, csrc)
    original = unwrap_rtx(rtx, payload_type=96, ssrc=1111)
    assert (original.sequence_number, original.timestamp, original.marker) == (4321, 777, 1)
    assert original.payload == PAYLOAD


def test_a_stream_without_rtx_refuses_to_write_a_retransmission_on_it() -> None:
    writer = RtpWriter(ssrc=1, payload_type=111)
    sent = writer.packet(marker=0, sequence_number=2, timestamp=3, payload=b"x")
    with pytest.raises(ValueError, match="no RTX"):
        writer.rtx(sent, rtx_sequence_number=1)
