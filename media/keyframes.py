"""Which packets start a keyframe (so a subscriber can join or resume there), and how often
a publisher is asked for one."""

from __future__ import annotations

from collections.abc import Callable

VP8 = "video/vp8"
H264 = "video/h264"
_H264_IDR, _H264_SPS, _H264_STAP_A, _H264_FU_A = 5, 7, 24, 28


def is_keyframe_start(mime_type: str, payload: bytes) -> bool:
    """True for the first packet of a keyframe (RFC 7741 for VP8, RFC 6184 for H.264)."""
    if not payload:
        return False
    mime = mime_type.lower()
    if mime == VP8:
        return _vp8_keyframe_start(payload)
    if mime == H264:
        return _h264_keyframe_start(payload)
    return False


def _vp8_keyframe_start(payload: bytes) -> bool:
    first = payload[0]
    start_of_partition = first & 0x10
    partition_id = first & 0x07
    if not start_of_partition or partition_id != 0:
        return False
    pos = 1
    if first & 0x80:  # X: extension byte follows
        if len(payload) <= pos:
            return False
        ext = payload[pos]
        pos += 1
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= pos:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            pos += 1
    if len(payload) <= pos:
        return False
    return payload[pos] & 0x01 == 0  # P bit clear: a key frame


def _h264_keyframe_start(payload: bytes) -> bool:
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos:pos + 2], "big")
            if payload[pos + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            pos += 2 + size
        return False
    if nal_type == _H264_FU_A and len(payload) > 1:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in (_H264_IDR, _H264_SPS)
    return False


class KeyframeThrottle:
    """At most one keyframe request per `interval` reaches a publisher; a request inside the
    interval is not lost but sent when the interval ends, so a late subscriber still gets its
    keyframe soon."""

    def __init__(self, interval: float, now: Callable[[], float],
                 later: Callable[[float, Callable[[], None]], object]) -> None:
        self._interval = interval
        self._now = now
        self._later = later
        self._last = float("-inf")
        self._deferred = False

    def request(self, send: Callable[[], None]) -> None:
        wait = self._last + self._interval - self._now()
        if wait <= 0:
            self._last = self._now()
            send()
        elif not self._deferred:
            self._deferred = True

            def fire() -> None:
                self._deferred = False
                self._last = self._now()
                send()

            self._later(wait, fire)
