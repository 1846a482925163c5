"""Everything Xietong needs from aiortc's private insides, in one place.

aiortc has no public API for RTP in or RTP out of a peer connection (its maintainers' answer
is "patch the receiver"), so the SFU reaches in here and nowhere else. Its version and
aioice's are pinned in pyproject.toml and `check_version` refuses any other at start-up;
tests/test_meetings.py drives every hook through real connections, so an upgrade that moves
one fails there first.

What the hooks do:
- `ForwardingReceiver` takes each RTP packet after SRTP, RTX unwrap and NACK generation and
  hands it to a sink; it never starts aiortc's decoder thread, depacketises or reassembles.
- `ForwardingSender` negotiates like any sender but runs no encoder and no RTP loop: the SFU
  sends rewritten packets through its `DatagramRoute` (SRTP, then straight to the UDP socket
  of the selected ICE pair), and it hands RTCP (NACK, PLI, FIR, receiver reports) back.
- `ForwardingPeerConnection` builds its transceivers from those two, gathers ICE candidates on
  configured host addresses only, and keeps the payload types and header-extension ids already
  agreed with the remote side when it makes a new offer (Chrome refuses renumbering).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import aioice
import aiortc
from aioice.ice import StunProtocol
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.codecs import CODECS, HEADER_EXTENSIONS, is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcpeerconnection import create_media_description_for_transceiver
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpSrPacket,
    RtpPacket,
    is_rtcp,
    pack_remb_fci,
    unwrap_rtx,
)

from media.rtp_writer import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, RtpWriter

log = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"
DYNAMIC_PAYLOAD_TYPES = range(96, 128)
EXTENSION_IDS = range(1, 15)

RtpSink = Callable[[RtpPacket, RTCRtpCodecParameters], None]
RtcpSink = Callable[[Any], None]


def check_version() -> None:
    if (aiortc.__version__, aioice.__version__) != (AIORTC_VERSION, AIOICE_VERSION):
        raise RuntimeError(f"the SFU's hooks are written for aiortc {AIORTC_VERSION} and "
                           f"aioice {AIOICE_VERSION}, found {aiortc.__version__} and "
                           f"{aioice.__version__}")


class ForwardingReceiver(RTCRtpReceiver):
    """Receives a publisher's RTP and hands every packet on as it arrives, undecoded."""

    def __init__(self, kind: str, transport: RTCDtlsTransport) -> None:
        super().__init__(kind, transport)
        self.sink: RtpSink | None = None
        self.on_sender_report: Callable[[RtcpSrPacket], None] | None = None
        self.codecs: dict[int, RTCRtpCodecParameters] = {}
        self.started = False
        self._rtx_ssrc: dict[int, int] = {}
        self._statistics: dict[int, StreamStatistics] = {}

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        # The base class starts a decoder thread here; forwarding needs none.
        if self.started:
            return
        for codec in parameters.codecs:
            if codec.payloadType is not None:
                self.codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        self._RTCRtpReceiver__codecs = self.codecs
        # Receiver reports read the statistics under the base class's name.
        self._RTCRtpReceiver__remote_streams = self._statistics
        self.transport._register_rtp_receiver(self, parameters)
        self._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(self._run_rtcp())
        self.started = True

    async def stop(self) -> None:
        if self.started:
            self.started = False
            self.transport._unregister_rtp_receiver(self)
            task = self._RTCRtpReceiver__rtcp_task
            await self._RTCRtpReceiver__rtcp_started.wait()  # type: ignore[attr-defined]
            task.cancel()
            await self._RTCRtpReceiver__rtcp_exited.wait()  # type: ignore[attr-defined]

    def _handle_disconnect(self) -> None:
        pass  # no decoder to stop

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            self._RTCRtpReceiver__lsr[packet.ssrc] = (  # type: ignore[attr-defined]
                packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF
            self._RTCRtpReceiver__lsr_time[packet.ssrc] = (  # type: ignore[attr-defined]
                time.time())
            if self.on_sender_report is not None:
                self.on_sender_report(packet)

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if not self._enabled:
            return
        estimator = self._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
        if estimator is not None and packet.extensions.abs_send_time is not None:
            # REMB keeps a publisher's bitrate up when nothing else estimates bandwidth.
            remb = estimator.add(abs_send_time=packet.extensions.abs_send_time,
                                 arrival_time_ms=arrival_time_ms,
                                 payload_size=len(packet.payload) + packet.padding_size,
                                 ssrc=packet.ssrc)
            rtcp_ssrc = self._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
            if rtcp_ssrc is not None and remb is not None:
                await self._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc,
                                                     media_ssrc=0, fci=pack_remb_fci(*remb)))
        codec = self.codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = self._statistics.get(packet.ssrc)
        if stats is None:
            stats = self._statistics[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
            original = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original is None or len(packet.payload) < 2 or apt not in self.codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
            codec = self.codecs[apt]
        nacks = self._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
        if nacks is not None and nacks.add(packet):
            await self._send_rtcp_nack(packet.ssrc, sorted(nacks.missing))
        if self.sink is not None:
            self.sink(packet, codec)

    async def request_keyframe(self, media_ssrc: int) -> None:
        await self._send_rtcp_pli(media_ssrc)


class ForwardingSender(RTCRtpSender):
    """Negotiated like any sender; sends what the SFU writes, nothing of its own.

    Packets leave synchronously through its `route()`: SRTP-protected and handed to the UDP
    socket of the ICE pair in use, with no coroutine per packet (aiortc's own path awaits four
    of them per packet). Only host UDP candidates are ever gathered (no ICE servers), so the
    pair in use is a plain datagram socket."""

    def __init__(self, kind: str, transport: RTCDtlsTransport) -> None:
        super().__init__(kind, transport)
        self.on_rtcp: RtcpSink | None = None
        self.on_started: Callable[[], None] | None = None
        self.started = False
        self.mid: str | None = None
        self.clock_rate = 90000
        self.writer: RtpWriter | None = None
        self._route: DatagramRoute | None = None

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self.started:
            return
        self.transport._register_rtp_sender(self, parameters)
        self.mid = parameters.muxId
        main = parameters.codecs[0]
        self.clock_rate = main.clockRate
        rtx_payload_type = next(
            (c.payloadType for c in parameters.codecs
             if is_rtx(c) and c.parameters.get("apt") == main.payloadType), None)
        ids = {x.uri: x.id for x in parameters.headerExtensions}
        assert main.payloadType is not None
        self.writer = RtpWriter(
            ssrc=self._ssrc, payload_type=main.payloadType, rtx_ssrc=self._rtx_ssrc,
            rtx_payload_type=rtx_payload_type, mid=self.mid,
            mid_id=ids.get(MID_URI), abs_send_time_id=ids.get(ABS_SEND_TIME_URI),
            audio_level_id=ids.get(AUDIO_LEVEL_URI))
        self.started = True
        if self.on_started is not None:
            self.on_started()

    async def stop(self) -> None:
        if self.started:
            self.transport._unregister_rtp_sender(self)
            self.started = False

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if self.on_rtcp is not None:
            self.on_rtcp(packet)

    def route(self) -> DatagramRoute | None:
        """Where this sender's packets go now; None while the connection is not up."""
        dtls = self.transport
        if dtls._state is not DtlsState.CONNECTED:
            return None
        pair = dtls._transport._connection._nominated.get(1)
        if pair is None:
            return None
        if self._route is None or self._route.pair is not pair:
            if not isinstance(pair.protocol, StunProtocol):
                return None
            self._route = DatagramRoute(pair, dtls)
        return self._route


class DatagramRoute:
    """The UDP socket and remote address of one connection's selected ICE pair, with the
    SRTP session that protects what goes out on it."""

    __slots__ = ("_address", "_dtls", "_protocol", "pair")

    def __init__(self, pair: Any, dtls: RTCDtlsTransport) -> None:
        self.pair = pair
        self._protocol: StunProtocol = pair.protocol
        self._address = pair.remote_addr
        self._dtls = dtls

    def backed_up(self) -> bool:
        """Whether the socket is holding back earlier packets (the kernel's buffer is full):
        anything sent now would only wait behind them."""
        # Both asyncio's and uvloop's datagram transports have it; typeshed does not list it.
        return bool(self._protocol.transport.get_write_buffer_size() > 0)  # type: ignore[attr-defined]

    def send(self, data: bytes) -> None:
        """Protect and send one serialised RTP or RTCP packet."""
        dtls = self._dtls
        srtp = dtls._tx_srtp
        data = srtp.protect_rtcp(data) if is_rtcp(data) else srtp.protect(data)
        self._protocol.transport.sendto(data, self._address)
        # getStats on our side reads these, as they would be after aiortc's own send.
        dtls._RTCDtlsTransport__tx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__tx_packets += 1  # type: ignore[attr-defined]


class HostPinnedPeerConnection(RTCPeerConnection):
    """A peer connection that never asks a STUN server and offers only the given host
    addresses as ICE candidates (all of the machine's when none are given)."""

    def __init__(self, host_addresses: Iterable[str] = ()) -> None:
        super().__init__(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.host_addresses = list(host_addresses)

    async def _RTCPeerConnection__gather(self) -> None:
        if self.host_addresses:
            for ice in self._RTCPeerConnection__iceTransports:  # type: ignore[attr-defined]
                connection = ice.iceGatherer._connection
                if connection._local_candidates_start:
                    continue
                connection._local_candidates_start = True
                for component in connection._components:
                    connection._local_candidates += await connection.get_component_candidates(
                        component=component, addresses=self.host_addresses)
                connection._local_candidates_end = True
        await RTCPeerConnection._RTCPeerConnection__gather(self)  # type: ignore[attr-defined]


class ForwardingPeerConnection(HostPinnedPeerConnection):
    """The server's side of one participant's connection (PROTOCOL §6)."""

    def _RTCPeerConnection__createTransceiver(
            self, direction: str, kind: str, sender_track: Any = None) -> RTCRtpTransceiver:
        transceiver: RTCRtpTransceiver = (
            RTCPeerConnection._RTCPeerConnection__createTransceiver(  # type: ignore[attr-defined]
                self, direction, kind, sender_track))
        transport = transceiver.receiver.transport
        plain_sender = transceiver.sender
        sender = ForwardingSender(kind, transport)
        sender._ssrc = plain_sender._ssrc
        sender._rtx_ssrc = plain_sender._rtx_ssrc
        sender._stream_id = plain_sender._stream_id
        sender._track_id = plain_sender._track_id
        receiver = ForwardingReceiver(kind, transport)
        receiver._set_rtcp_ssrc(sender._ssrc)
        transceiver._RTCRtpTransceiver__sender = sender  # type: ignore[attr-defined]
        transceiver._RTCRtpTransceiver__receiver = receiver  # type: ignore[attr-defined]
        return transceiver

    def add_forwarding(self, kind: str, stream_id: str, track_id: str,
                       codec: RTCRtpCodecParameters) -> RTCRtpTransceiver:
        """A send-only m-line for one forwarded track, with the publisher's codec under the
        payload types and extension ids this connection already uses."""
        transceiver = self.addTransceiver(kind, direction="sendonly")
        transceiver.sender._stream_id = stream_id
        transceiver.sender._track_id = track_id
        transceiver._codecs = self._agreed_codecs(kind, codec)
        transceiver._headerExtensions = self._agreed_extensions(kind)
        return transceiver

    async def createOffer(self) -> RTCSessionDescription:
        # aiortc's createOffer resets every transceiver to its default payload types and
        # extension ids; put back what was agreed (or preset) and rebuild those m-lines.
        kept = {t: (t._codecs, t._headerExtensions) for t in self.getTransceivers() if t._codecs}
        offer = await super().createOffer()
        description = aiortc_sdp.SessionDescription.parse(offer.sdp)
        cname = self._RTCPeerConnection__cname  # type: ignore[attr-defined]
        by_index = {t._get_mline_index(): t for t in self.getTransceivers()}
        for index, media in enumerate(description.media):
            transceiver = by_index.get(index)
            if transceiver is None or transceiver not in kept:
                continue
            transceiver._codecs, transceiver._headerExtensions = kept[transceiver]
            description.media[index] = create_media_description_for_transceiver(
                transceiver, cname=cname, direction=transceiver.direction,
                mid=media.rtp.muxId)
        return RTCSessionDescription(sdp=str(description), type="offer")

    def _negotiated(self) -> list[RTCRtpTransceiver]:
        return [t for t in self.getTransceivers() if t._codecs]

    def _agreed_extensions(self, kind: str) -> list[RTCRtpHeaderExtensionParameters]:
        agreed = {x.uri: x.id for t in self._negotiated() for x in t._headerExtensions}
        free = (i for i in EXTENSION_IDS if i not in agreed.values())
        chosen = []
        for default in HEADER_EXTENSIONS[kind]:
            ext_id = agreed.get(default.uri)
            if ext_id is None:
                ext_id = agreed[default.uri] = next(free)
            chosen.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=default.uri))
        return chosen

    def _agreed_codecs(self, kind: str,
                       codec: RTCRtpCodecParameters) -> list[RTCRtpCodecParameters]:
        in_use = {c.payloadType: c for t in self._negotiated() for c in t._codecs
                  if c.payloadType is not None}

        def same(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
            return (a.mimeType.lower() == b.mimeType.lower() and a.clockRate == b.clockRate
                    and a.parameters == b.parameters)

        def payload_type_for(wanted: RTCRtpCodecParameters, preferred: int | None) -> int:
            for pt, known in in_use.items():
                if same(known, wanted):
                    return pt
            if preferred is not None and preferred not in in_use:
                return preferred
            return next(pt for pt in DYNAMIC_PAYLOAD_TYPES if pt not in in_use)

        default = next((c for c in CODECS[kind] if c.mimeType.lower() == codec.mimeType.lower()),
                       None)
        feedback = list(default.rtcpFeedback) if default is not None else []
        main = RTCRtpCodecParameters(mimeType=codec.mimeType, clockRate=codec.clockRate,
                                     channels=codec.channels, payloadType=0,
                                     rtcpFeedback=feedback, parameters=dict(codec.parameters))
        main.payloadType = payload_type_for(main, codec.payloadType)
        in_use[main.payloadType] = main
        chosen = [main]
        if kind == "video":
            rtx = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=codec.clockRate,
                                        payloadType=0, parameters={"apt": main.payloadType})
            rtx.payloadType = payload_type_for(rtx, main.payloadType + 1)
            chosen.append(rtx)
        return chosen


def track_ids(description: RTCSessionDescription) -> dict[str, str]:
    """mid -> the track id the remote side gave that m-line (its msid)."""
    parsed = aiortc_sdp.SessionDescription.parse(description.sdp)
    return {media.rtp.muxId: parsed.webrtc_track_id(media) or "" for media in parsed.media
            if media.kind in ("audio", "video")}
