"""Prometheus metrics of one node, in a registry of its own (two nodes may share a process)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sockets = Gauge("xietong_connected_sockets", "Socket.IO connections on this node",
                             registry=self.registry)
        self.events = Counter("xietong_socket_events", "Socket.IO events handled",
                              ["event", "outcome"], registry=self.registry)
        self.latency = Histogram("xietong_handler_seconds", "Socket.IO handler latency",
                                 ["event"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1.0, 2.5, 5.0))
        self.http = Counter("xietong_http_requests", "REST requests",
                            ["route", "status"], registry=self.registry)
        self.connects_refused = Counter("xietong_connects_refused", "Refused socket connects",
                                        registry=self.registry)

    def watch_media(self, read: Callable[[], Any]) -> None:
        """Expose the SFU's forwarding counters, read at each scrape."""
        names = {
            "packets_in": "RTP packets received from publishers",
            "packets_out": "RTP and RTCP packets sent to subscribers",
            "retransmitted": "packets resent from the history on a NACK",
            "keyframe_requests": "keyframe requests sent to publishers",
            "dropped_slow": "packets dropped for subscribers that could not keep up",
            "frames_decoded": "video or audio frames the server decoded (0 when forwarding)",
            "frames_encoded": "video or audio frames the server encoded (0 when forwarding)",
        }
        def reader(attr: str) -> Callable[[], float]:
            return lambda: float(getattr(read(), attr))

        for attr, doc in names.items():
            gauge = Gauge(f"xietong_media_{attr}", doc, registry=self.registry)
            gauge.set_function(reader(attr))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def http_metrics_middleware(metrics: Metrics) -> Any:
    """Count REST requests by route pattern (not raw path, which would explode the labels)."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics.http.labels(route, str(response.status)).inc()
        return response

    return count
