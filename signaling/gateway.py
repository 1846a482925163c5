"""The Socket.IO gateway: authenticates connects, dispatches events to services, and delivers
domain events to the rooms `user:<id>` (and topic rooms) on every node."""

from __future__ import annotations

import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, ValidationError

from core.auth.service import AuthService
from core.bus import DomainEvent
from core.clock import Clock, iso
from core.errors import AppError, Forbidden
from core.presence.rules import Status
from core.presence.service import MAX_WATCHED, PresenceService
from core.tasks import Periodic
from signaling.errors import ack_error, bad_request_from, parse
from signaling.metrics import Metrics
from signaling.schemas import Empty, PresenceSet, PresenceSubscribe, RenewRequest, SocketAuth

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
_EXPIRY_CHECK_SECONDS = 1.0


@dataclass
class SocketState:
    """What this node knows of one of its sockets."""

    sid: str
    user_id: str
    client: str
    expires_at: float
    token_id: str
    warned: bool = False


Handler = Callable[[SocketState, Any], Awaitable[dict[str, Any]]]


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


class SocketGateway:
    def __init__(self, sio: socketio.AsyncServer, auth: AuthService, presence: PresenceService,
                 metrics: Metrics, clock: Clock, expiry_warning: float) -> None:
        self.sio = sio
        self._auth = auth
        self._presence = presence
        self._metrics = metrics
        self._clock = clock
        self._expiry_warning = expiry_warning
        self._sockets: dict[str, SocketState] = {}
        self._expiry: list[tuple[float, str, str]] = []
        self._disconnect_listeners: list[Callable[[SocketState], Awaitable[None]]] = []
        self._expiry_checker = Periodic(clock, _EXPIRY_CHECK_SECONDS, self.check_expiry,
                                        "token expiry")
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("*", self._on_unknown)
        self.route("auth:renew", RenewRequest, self.on_auth_renew)
        self.route("presence:subscribe", PresenceSubscribe, self.on_presence_subscribe)
        self.route("presence:unsubscribe", PresenceSubscribe, self.on_presence_unsubscribe)
        self.route("presence:set", PresenceSet, self.on_presence_set)
        self.route("ping", Empty, self.on_ping)

    # plumbing ----------------------------------------------------------------------------

    def route(self, event: str, model: type[M],
              handler: Callable[[SocketState, M], Awaitable[dict[str, Any]]]) -> None:
        """Register a client event: validate into `model`, call `handler`, answer the ack."""

        async def dispatch(sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
            started = time.perf_counter()
            outcome = "ok"
            try:
                state = self._sockets.get(sid)
                if state is None:
                    raise Forbidden("socket is not authenticated")
                payload = parse(model, data)
                result = await handler(state, payload)
                await self._presence.note_activity(sid)
                return {"ok": True, "data": result}
            except AppError as exc:
                outcome = str(exc.code)
                return ack_error(exc)
            except Exception as exc:
                reply = ack_error(exc)
                outcome = reply["error"]["code"]
                if outcome == "internal":
                    log.exception("handler of %s failed", event)
                else:
                    log.warning("handler of %s: %s", event, exc)
                return reply
            finally:
                self._metrics.events.labels(event, outcome).inc()
                self._metrics.latency.labels(event).observe(time.perf_counter() - started)

        self.sio.on(event, dispatch)

    def on_disconnect(self, listener: Callable[[SocketState], Awaitable[None]]) -> None:
        """`listener` runs when one of this node's sockets goes."""
        self._disconnect_listeners.append(listener)

    # connection --------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            credentials = SocketAuth.model_validate(auth if isinstance(auth, dict) else {})
        except ValidationError as exc:
            self._metrics.connects_refused.inc()
            error = bad_request_from(exc)
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized",
                                 "message": f"auth.token is required ({error.message})"}) from exc
        try:
            identity = await self._auth.authenticate(credentials.token)
        except AppError as exc:
            self._metrics.connects_refused.inc()
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized", "message": exc.message}) from exc
        user_id = identity.user.id
        state = SocketState(sid, user_id, credentials.client, identity.claims.expires_at,
                            identity.claims.token_id)
        self._sockets[sid] = state
        self._schedule_expiry(state)
        await self.sio.enter_room(sid, user_room(user_id))
        await self._presence.do_connect(user_id, sid, credentials.client)
        self._metrics.sockets.inc()

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        state = self._sockets.pop(sid, None)
        if state is None:
            return
        self._metrics.sockets.dec()
        for listener in self._disconnect_listeners:
            try:
                await listener(state)
            except Exception:
                log.exception("a disconnect listener failed for %s", sid)
        try:
            await self._presence.do_disconnect(state.user_id, sid)
        except Exception:
            # The device entry stays until its node's sweep; nothing else is lost.
            log.exception("recording the disconnect of %s failed", sid)

    async def _on_unknown(self, event: str, sid: str, *_args: Any) -> dict[str, Any]:
        self._metrics.events.labels("unknown", "bad_request").inc()
        return {"ok": False, "error": {"code": "bad_request",
                                       "message": f"unknown event {event!r}"}}

    # handlers ----------------------------------------------------------------------------

    async def on_ping(self, state: SocketState, _: Empty) -> dict[str, Any]:
        return {"ts": iso(self._clock.now())}

    async def on_auth_renew(self, state: SocketState, payload: RenewRequest) -> dict[str, Any]:
        identity = await self._auth.authenticate(payload.token)
        if identity.user.id != state.user_id:
            raise Forbidden("the new token belongs to another user")
        state.expires_at = identity.claims.expires_at
        state.token_id = identity.claims.token_id
        state.warned = False
        self._schedule_expiry(state)
        return {"expires_at": iso(datetime.fromtimestamp(state.expires_at, UTC))}

    async def on_presence_subscribe(self, state: SocketState,
                                    payload: PresenceSubscribe) -> dict[str, Any]:
        user_ids = list(dict.fromkeys(payload.user_ids))[:MAX_WATCHED]
        for user_id in user_ids:
            await self.sio.enter_room(state.sid, f"presence:{user_id}")
        snapshots = await self._presence.get_presence(user_ids)
        return {"presence": {u: s.to_wire() for u, s in snapshots.items()}}

    async def on_presence_unsubscribe(self, state: SocketState,
                                      payload: PresenceSubscribe) -> dict[str, Any]:
        for user_id in payload.user_ids:
            await self.sio.leave_room(state.sid, f"presence:{user_id}")
        return {}

    async def on_presence_set(self, state: SocketState, payload: PresenceSet) -> dict[str, Any]:
        snapshot = await self._presence.do_set_status(state.user_id, Status(payload.status))
        return {"user_id": state.user_id, **snapshot.to_wire()}

    # delivery ----------------------------------------------------------------------------

    async def deliver(self, event: DomainEvent) -> None:
        rooms = [user_room(u) for u in sorted(event.audience)] + list(event.topics)
        if not rooms:
            return
        await self.sio.emit(event.name, event.payload, to=rooms)
        if event.name == "auth:revoked":
            for user_id in event.audience:
                for device_id in await self._presence.get_device_ids(user_id):
                    await self.sio.disconnect(device_id.rsplit(":", 1)[1])

    # token expiry ------------------------------------------------------------------------

    def _schedule_expiry(self, state: SocketState) -> None:
        heapq.heappush(self._expiry, (state.expires_at - self._expiry_warning, state.sid,
                                      state.token_id))

    def start(self) -> None:
        self._expiry_checker.start()

    async def stop(self) -> None:
        await self._expiry_checker.stop()

    async def check_expiry(self) -> None:
        now = self._clock.time()
        while self._expiry and self._expiry[0][0] <= now:
            _due, sid, token_id = heapq.heappop(self._expiry)
            state = self._sockets.get(sid)
            if state is None or state.token_id != token_id:
                continue  # gone, or renewed since
            if now >= state.expires_at:
                await self.sio.emit("auth:expired", {}, to=sid)
                await self.sio.disconnect(sid)
            elif not state.warned:
                state.warned = True
                await self.sio.emit("auth:expiring", {
                    "expires_at": iso(datetime.fromtimestamp(state.expires_at, UTC))}, to=sid)
                heapq.heappush(self._expiry, (state.expires_at, sid, token_id))

    # shutdown ----------------------------------------------------------------------------

    async def drain(self, retry_after_ms: int) -> None:
        """Tell this node's sockets to reconnect elsewhere, then close them."""
        await self.sio.emit("server:draining", {"retry_after_ms": retry_after_ms},
                            ignore_queue=True)
        for sid in list(self._sockets):
            with contextlib.suppress(Exception):
                await self.sio.disconnect(sid, ignore_queue=True)
