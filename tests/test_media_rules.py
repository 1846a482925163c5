"""The rules of the small pure media modules: RTP renumbering, keyframe detection and
throttling, and the choice of the active speaker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import media.rtp_rewrite as rtp
from media.keyframes import H264, VP8, KeyframeThrottle, is_keyframe_start
from media.rtp_rewrite import SEQ_MOD, TS_MOD, StreamRewriter, seq_newer
from media.speaker import HOLD, SILENT_AFTER, SWITCH_AFTER, ActiveSpeaker

# --- RTP renumbering -----------------------------------------------------------------------


def test_seq_newer_is_serial_comparison_across_the_wrap() -> None:
    assert seq_newer(0, 65535)
    assert not seq_newer(65535, 0)
    assert seq_newer(101, 100)
    assert not seq_newer(100, 100)
    assert not seq_newer(100 + SEQ_MOD // 2, 100)


def test_sequence_continues_by_one_across_a_restart_to_another_source() -> None:
    rw = StreamRewriter(90000)
    outs = [rw.rewrite(seq, 1000 + seq, 1.0)[0] for seq in range(1000, 1005)]
    rw.restart()
    outs += [rw.rewrite(seq, 7, 2.0)[0] for seq in range(40000, 40003)]
    assert outs == [(outs[0] + i) % SEQ_MOD for i in range(8)]


def test_timestamp_moves_forward_by_the_elapsed_wall_time_across_a_restart() -> None:
    rw = StreamRewriter(90000)
    _, last_ts = rw.rewrite(10, 500_000, now=10.0)
    rw.restart()
    _, ts = rw.rewrite(9000, 123, now=10.5)  # another source, far lower timestamps
    assert (ts - last_ts) % TS_MOD == 45000


def test_timestamp_never_goes_backwards_on_an_immediate_restart() -> None:
    rw = StreamRewriter(48000)
    _, last_ts = rw.rewrite(10, 3_000_000, now=5.0)
    rw.restart()
    _, ts = rw.rewrite(11, 0, now=5.0)
    assert 0 < (ts - last_ts) % TS_MOD < TS_MOD // 2


def test_numbering_wraps_at_65536_and_2_pow_32_through_many_restarts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The output starts just below both wraps: seq 32767, timestamp 2**32 - 1.
    monkeypatch.setattr(rtp.secrets, "randbelow", lambda n: n - 1)
    rw = StreamRewriter(90000)
    in_seq, in_ts, now = 65000, TS_MOD - 30000, 0.0
    prev = rw.rewrite(in_seq, in_ts, now)
    assert prev == (32767, TS_MOD - 1)
    for i in range(1, 40000):
        if i % 5000 == 0:  # a new source starts at a random point
            rw.restart()
            in_seq, in_ts = (in_seq * 7919) % SEQ_MOD, (in_ts * 104729) % TS_MOD
        in_seq, in_ts, now = (in_seq + 1) % SEQ_MOD, (in_ts + 3000) % TS_MOD, now + 1 / 30
        out_seq, out_ts = rw.rewrite(in_seq, in_ts, now)
        assert 0 <= out_seq < SEQ_MOD and 0 <= out_ts < TS_MOD
        assert out_seq == (prev[0] + 1) % SEQ_MOD
        assert 0 < (out_ts - prev[1]) % TS_MOD < TS_MOD // 2
        prev = (out_seq, out_ts)
    assert prev[0] < 32767  # the output sequence did wrap


def test_a_late_older_packet_maps_with_the_same_offset_and_moves_no_state() -> None:
    rw = StreamRewriter(90000)
    first = rw.rewrite(100, 9000, 1.0)
    rw.rewrite(101, 12000, 1.0)
    newest = rw.rewrite(102, 15000, 1.0)
    late = rw.rewrite(99, 6000, 1.5)
    assert late == ((first[0] - 1) % SEQ_MOD, (first[1] - 3000) % TS_MOD)
    rw.restart()
    after = rw.rewrite(5000, 0, 2.0)
    assert after[0] == (newest[0] + 1) % SEQ_MOD
    assert (after[1] - newest[1]) % TS_MOD == 90000  # 1 s after the newest, not the late one


def test_skipping_the_next_padding_packet_leaves_no_gap() -> None:
    rw = StreamRewriter(90000)
    out, _ = rw.rewrite(10, 0, 0.0)
    assert rw.skip(11)
    assert rw.rewrite(12, 0, 0.0)[0] == (out + 1) % SEQ_MOD


def test_skip_refuses_a_packet_that_is_not_next_in_order() -> None:
    rw = StreamRewriter(90000)
    assert not rw.skip(10)  # nothing forwarded yet
    out, _ = rw.rewrite(10, 0, 0.0)
    assert not rw.skip(12)
    assert not rw.skip(10)
    assert rw.rewrite(11, 0, 0.0)[0] == (out + 1) % SEQ_MOD
    assert rw.rewrite(12, 0, 0.0)[0] == (out + 2) % SEQ_MOD
    rw.restart()
    assert not rw.skip(13)  # after a restart nothing is in order until a packet is forwarded


def test_a_late_packet_from_before_a_skipped_padding_packet_keeps_its_own_number() -> None:
    rw = StreamRewriter(90000)
    out8, _ = rw.rewrite(8, 0, 0.0)
    rw.rewrite(10, 0, 0.0)  # 9 is delayed on the way
    assert rw.skip(11)
    assert rw.rewrite(9, 0, 0.0)[0] == (out8 + 1) % SEQ_MOD  # not out8 again


def test_output_timestamp_uses_the_same_offset_as_rewrite() -> None:
    rw = StreamRewriter(90000)
    _, ts = rw.rewrite(1, 1000, 0.0)
    assert rw.output_timestamp(1000) == ts
    assert rw.output_timestamp(4000) == (ts + 3000) % TS_MOD
    rw.restart()
    _, ts = rw.rewrite(77, 555_555, 3.0)
    assert rw.output_timestamp(555_555) == ts


# --- Keyframes -----------------------------------------------------------------------------

KEY, INTER = 0x9C, 0x9D  # first byte of a VP8 frame header: P bit 0 = key frame


def vp8(*descriptor: int, frame: int = KEY) -> bytes:
    return bytes([*descriptor, frame, 0x01, 0x2A])


@pytest.mark.parametrize("payload", [
    vp8(0x10),                           # S=1, PID=0, no extension
    vp8(0x90, 0x00),                     # X=1, empty extension
    vp8(0x90, 0x80, 0x05),               # I: 7-bit picture id
    vp8(0x90, 0x80, 0x85, 0x01),         # I: 15-bit picture id (M bit)
    vp8(0x90, 0xC0, 0x85, 0x01, 0x07),   # I + L (TL0PICIDX)
    vp8(0x90, 0xF0, 0x05, 0x07, 0x41),   # I + L + T/K byte
    vp8(0x90, 0x20, 0x41),               # T only
    vp8(0x90, 0x10, 0x41),               # K only
])
def test_vp8_first_packet_of_a_key_frame_starts_a_keyframe(payload: bytes) -> None:
    assert is_keyframe_start(VP8, payload)
    assert is_keyframe_start("VIDEO/VP8", payload)


@pytest.mark.parametrize("payload", [
    vp8(0x10, frame=INTER),                        # P bit 1: an inter frame
    vp8(0x90, 0xF0, 0x85, 0x01, 0x07, 0x41, frame=INTER),
    vp8(0x00),                                     # S clear: a continuation packet
    vp8(0x80, 0x80, 0x05),
    vp8(0x11),                                     # S set but partition 1
    b"",
    bytes([0x90, 0x80]),                           # truncated before the picture id
])
def test_vp8_anything_else_is_not_a_keyframe_start(payload: bytes) -> None:
    assert not is_keyframe_start(VP8, payload)


def stap_a(*nals: bytes) -> bytes:
    return bytes([0x78]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


@pytest.mark.parametrize("payload, keyframe", [
    (bytes([0x65, 0x88, 0x84]), True),                             # IDR slice
    (bytes([0x67, 0x42, 0xC0, 0x1F]), True),                       # SPS
    (stap_a(bytes([0x67, 0x42, 0xC0]), bytes([0x68, 0xCE])), True),  # STAP-A with SPS
    (stap_a(bytes([0x06, 0x05]), bytes([0x67, 0x42])), True),      # SPS second in STAP-A
    (stap_a(bytes([0x06, 0x05]), bytes([0x68, 0xCE])), False),     # SEI + PPS only
    (bytes([0x7C, 0x85, 0x88]), True),                             # FU-A start of an IDR
    (bytes([0x7C, 0x05, 0x88]), False),                            # FU-A middle of an IDR
    (bytes([0x7C, 0x81, 0x9A]), False),                            # FU-A start, non-IDR
    (bytes([0x41, 0x9A, 0x02]), False),                            # non-IDR slice
    (b"", False),
])
def test_h264_keyframe_starts_with_an_idr_or_sps(payload: bytes, keyframe: bool) -> None:
    assert is_keyframe_start(H264, payload) is keyframe


def test_keyframe_requests_are_sent_at_once_then_deferred_once_per_interval() -> None:
    clock, deferred, sent = [100.0], [], []
    throttle = KeyframeThrottle(1.0, lambda: clock[0], lambda d, fn: deferred.append((d, fn)))

    def request(at: float) -> None:
        clock[0] = at
        throttle.request(lambda: sent.append(clock[0]))

    request(100.0)
    assert (sent, deferred) == ([100.0], [])
    request(100.25)
    request(100.5)
    request(100.75)
    assert sent == [100.0]
    assert [delay for delay, _ in deferred] == [0.75]
    clock[0] = 101.0
    deferred[0][1]()
    assert sent == [100.0, 101.0]
    request(101.5)  # within the interval of the deferred send: deferred again
    assert [delay for delay, _ in deferred] == [0.75, 0.5]
    request(103.0)  # that deferral has not fired; after the interval, sent at once
    assert sent == [100.0, 101.0, 103.0]


# --- Active speaker ------------------------------------------------------------------------

QUIET, LOUD, SILENT = 50, 0, 127


def talk(speaker: ActiveSpeaker, voices: dict[str, Callable[[float], int | None]],
         until: float, start: float = 0.0) -> list[tuple[float, str]]:
    """Levels at 50 Hz (None: no packet), a decision every 0.3 s; returns the changes."""
    changes = []
    for tick in range(round(start / 0.02), round(until / 0.02)):
        now = tick * 0.02
        for key, level_at in voices.items():
            if (level := level_at(now)) is not None:
                speaker.observe(key, level, now)
        if tick % 15 == 0:
            new = speaker.decide(now)
            if new is not None:
                changes.append((round(now, 2), new))
    return changes


def test_a_lone_voice_becomes_the_speaker_within_about_a_second() -> None:
    speaker = ActiveSpeaker()
    [(at, who)] = talk(speaker, {"a": lambda t: 20}, until=3.0)
    assert who == speaker.current == "a" and at <= 1.2


def test_a_cough_from_someone_else_does_not_switch() -> None:
    speaker = ActiveSpeaker()
    cough = {"a": lambda t: 60, "b": lambda t: LOUD if 3.0 <= t < 3.2 else SILENT}
    assert [who for _, who in talk(speaker, cough, until=6.0)] == ["a"]


def test_a_sustained_louder_voice_takes_over_after_switch_after() -> None:
    speaker = ActiveSpeaker()
    voices = {"a": lambda t: QUIET, "b": lambda t: LOUD if t >= 4.0 else SILENT}
    changes = talk(speaker, voices, until=7.0)
    assert [who for _, who in changes] == ["a", "b"]
    assert 4.0 + SWITCH_AFTER <= changes[1][0] <= 4.0 + 1.5


def test_a_new_speaker_keeps_the_floor_for_hold() -> None:
    speaker = ActiveSpeaker()
    voices = {"a": lambda t: QUIET, "b": lambda t: LOUD if t >= 1.2 else SILENT}
    (a_at, a), (b_at, b) = talk(speaker, voices, until=5.0)
    assert (a, b) == ("a", "b")
    assert a_at + HOLD <= b_at <= a_at + HOLD + 0.3


@pytest.mark.parametrize("after, within", [(SILENT, 1.5), (None, SILENT_AFTER + 1.0)],
                         ids=["silence packets", "no packets"])
def test_when_the_speaker_falls_silent_another_voice_takes_over(
        after: int | None, within: float) -> None:
    speaker = ActiveSpeaker()
    voices = {"a": lambda t: 20 if t < 4.0 else after, "b": lambda t: 40}
    changes = talk(speaker, voices, until=8.0)
    assert [who for _, who in changes] == ["a", "b"]
    assert 4.0 < changes[1][0] <= 4.0 + within


def test_forgetting_the_current_speaker_clears_it_and_another_need_not_wait_hold() -> None:
    speaker = ActiveSpeaker()
    [(a_at, _)] = talk(speaker, {"a": lambda t: 20, "b": lambda t: 30}, until=1.0)
    speaker.forget("a")
    assert speaker.current is None
    [(b_at, b)] = talk(speaker, {"b": lambda t: 30}, start=1.0, until=3.0)
    assert b == "b" and b_at < a_at + HOLD


def test_decide_returns_none_when_nothing_changes_even_if_another_is_slightly_louder() -> None:
    speaker = ActiveSpeaker()
    assert speaker.decide(0.0) is None
    voices = {"a": lambda t: 20, "b": lambda t: 17 if t >= 2.0 else SILENT}  # 3 dB louder
    changes = talk(speaker, voices, until=10.0)
    assert [who for _, who in changes] == ["a"]
    assert speaker.decide(10.0) is None
    assert speaker.current == "a"
