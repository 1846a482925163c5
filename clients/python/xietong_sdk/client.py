"""`XietongClient`: log in, connect, call every event typed, subscribe to pushes, and stay
connected: reconnect with backoff, follow `server:draining`, renew the token, and catch up
on what was missed (docs/protocol.md §3 "Change feed", `msg:sync`).

    async with XietongClient("http://127.0.0.1:8080") as client:
        await client.login("staff01", "demo")
        client.on("msg:new", lambda data: print(data["message"]["text"]))
        await client.connect()
        conv = await client.conversations.create_direct("staff02")
        await client.chat.send(conv["id"], "你好")

Local events, besides the server's pushes: `connection:lost {"reason"}`,
`connection:restored {"url", "attempts"}`, `connection:closed {"reason"}` (no more
reconnecting: revoked, or the refresh token is refused), `sync:reset {"reason", "cursor"}`
(away longer than the change feed keeps: reload), `auth:renewed {"expires_at"}` and
`auth:renew_failed {"code", "message"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal, TypeVar, cast, overload

import aiohttp

from xietong_sdk.backoff import Backoff
from xietong_sdk.cards import Cards, Flows
from xietong_sdk.chat import Chat, Conversations
from xietong_sdk.connection import DEFAULT_TIMEOUT, Connection
from xietong_sdk.errors import NotConnected, Timeout, Unauthorized, XietongError
from xietong_sdk.events import Emitter, log
from xietong_sdk.meetings import Meetings
from xietong_sdk.models import Renewed, Session, User
from xietong_sdk.people import Admin, Directory, Presence
from xietong_sdk.rest import Rest
from xietong_sdk.resync import FEED_EVENTS, Resync, SyncState
from xietong_sdk.rooms import Bookings, Rooms

ClientKind = Literal["web", "desktop", "mobile", "sdk"]
H = TypeVar("H", bound=Callable[..., Any])


class XietongClient:
    def __init__(self, base_url: str | Sequence[str], *, client: ClientKind = "sdk",
                 reconnect: bool = True, backoff: Backoff | None = None,
                 timeout: float = DEFAULT_TIMEOUT, sync: bool = True,
                 transports: Sequence[str] = ("websocket",),
                 session: aiohttp.ClientSession | None = None) -> None:
        """`base_url`: one node, or several nodes of one deployment (reconnects go round
        them). `reconnect`: come back by itself after a drop. `sync`: catch up on the change
        feed and messages after each reconnect. `session`: an aiohttp session for REST."""
        self.urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not self.urls:
            raise ValueError("XietongClient needs at least one base URL")
        self.kind = client
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self.transports = list(transports)
        self.rest = Rest(self.urls[0], session=session)
        self.connection = Connection(timeout=timeout)
        self.state = SyncState()
        self._sync = sync
        self._url_index = 0
        self._events = Emitter()
        self._ready: asyncio.Event | None = None
        self._syncing = False
        self._buffer: list[tuple[str, Any]] = []
        self._started = False
        self._closing = False
        self._revoked = False
        self._token_stale = False
        self._drain_delay: float | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.connection.on_any(self._on_push)
        self.connection.on_disconnect(self._on_disconnect)

        self.presence = Presence(self)
        self.conversations = Conversations(self)
        self.chat = Chat(self)
        self.cards = Cards(self)
        self.flows = Flows(self)
        self.rooms = Rooms(self)
        self.bookings = Bookings(self)
        self.meetings = Meetings(self)
        self.directory = Directory(self)
        self.admin = Admin(self)

    async def __aenter__(self) -> XietongClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # identity and lifecycle ----------------------------------------------------------------

    @property
    def user(self) -> User | None:
        return self.rest.user

    @property
    def url(self) -> str:
        """The node connected to (or tried next)."""
        return self.urls[self._url_index % len(self.urls)]

    @property
    def connected(self) -> bool:
        return self.connection.connected

    async def login(self, username: str, password: str) -> Session:
        """Log in over REST; the client keeps the token pair and renews it."""
        return await self.rest.login(username, password)

    def use_token(self, token: str, refresh_token: str | None = None) -> None:
        """Use a token pair obtained elsewhere (without a refresh token nothing renews)."""
        self.rest.token, self.rest.refresh_token = token, refresh_token

    async def connect(self) -> None:
        """Connect to the first node (a refusal raises `Unauthorized`, an unreachable node
        `NotConnected`); from then on the client stays connected until `close()`."""
        if not self.rest.token:
            raise Unauthorized("log in (or use_token) before connecting")
        self._closing = self._revoked = False
        await self._open(self.url)
        self._started = True

    async def close(self) -> None:
        """Disconnect for good and release everything."""
        self._closing = True
        tasks = [t for t in (self._reconnect_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._reconnect_task = None
        await self.connection.close()
        await self._events.close()
        await self.rest.close()

    # calls ---------------------------------------------------------------------------------

    async def call(self, event: str, payload: Any = None, *, seconds: float | None = None,
                   retry: bool = False) -> Any:
        """Any event: its reply's `data`, or its error raised (`Forbidden`, `BadRequest`,
        ...). While reconnecting it waits (within `seconds`, default `timeout`) to be
        connected again; with `retry` (for events safe to repeat) a drop before the answer
        sends it again."""
        deadline = time.monotonic() + (self.timeout if seconds is None else seconds)
        while True:
            await self._wait_ready(deadline)
            try:
                return await self.connection.call(event, payload,
                                                  max(0.01, deadline - time.monotonic()))
            except NotConnected:
                if not (retry and self._reconnecting() and time.monotonic() < deadline):
                    raise

    async def emit(self, event: str, payload: Any = None, *,
                   seconds: float | None = None) -> dict[str, Any]:
        """Any event's raw reply `{"ok", "data"|"error"}`."""
        seconds = self.timeout if seconds is None else seconds
        await self._wait_ready(time.monotonic() + seconds)
        return await self.connection.emit(event, payload, seconds)

    async def ping(self) -> str:
        """The server's time."""
        return str((await self.call("ping", {}, retry=True))["ts"])

    def _reconnecting(self) -> bool:
        return self._reconnect_task is not None and not self._closing

    async def _wait_ready(self, deadline: float) -> None:
        if self.connection.connected:
            return
        if not self._reconnecting():
            raise NotConnected("not connected: call connect() first")
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._ready_event().wait()
        except TimeoutError:
            raise Timeout("not connected again in time") from None

    def _ready_event(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    # subscriptions -------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...

    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Call `handler(data)` (plain or `async`) for each `event`, a push of the server
        (`msg:new`, `card:update`, ...) or a local one (`connection:restored`, ...).
        Catching up delivers what was missed through the same handlers, once each.
        Without `handler`, a decorator: `@client.on("msg:new")`."""
        if handler is None:
            return lambda decorated: self._events.on(event, decorated)
        return self._events.on(event, handler)

    def on_any(self, handler: H) -> H:
        """Call `handler(event, data)` for every event."""
        return self._events.on_any(handler)

    def off(self, event: str | None, handler: Callable[..., Any]) -> None:
        self._events.off(event, handler)

    async def wait_for(self, event: str, predicate: Callable[[Any], bool] | None = None,
                       seconds: float | None = None) -> Any:
        """The data of the next `event` (matching `predicate`) delivered from now on."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def check(data: Any) -> None:
            if not future.done() and (predicate is None or predicate(data)):
                future.set_result(data)

        self._events.on(event, check)
        try:
            async with asyncio.timeout(self.timeout if seconds is None else seconds):
                return await future
        except TimeoutError:
            raise Timeout(f"no {event} in time") from None
        finally:
            self._events.off(event, check)

    # pushes --------------------------------------------------------------------------------

    def _on_push(self, event: str, data: Any) -> None:
        if event == "server:draining":
            retry_after = data.get("retry_after_ms") if isinstance(data, dict) else None
            self._drain_delay = float(retry_after or 0) / 1000
            self._spawn(self._leave_draining_node(self.connection.sid))
        elif event == "auth:expiring":
            self._spawn(self._renew())
        elif event == "auth:expired":
            self._token_stale = True
        elif event == "auth:revoked":
            self._revoked = True
        if self._syncing:
            self._buffer.append((event, data))
        else:
            self._deliver(event, data)

    def _deliver(self, event: str, data: Any) -> None:
        """Hand an event to subscribers unless they had it already."""
        if self.state.admit(event, data):
            self._events.emit(event, data)

    async def _leave_draining_node(self, sid: str | None) -> None:
        if sid is not None and self.connection.sid == sid:
            await self.connection.disconnect()

    async def renew(self) -> Renewed:
        """Refresh the token pair over REST and hand the socket the new access token
        (`auth:renew`); the client does it by itself on `auth:expiring`."""
        await self.rest.refresh()
        return cast(Renewed, await self.call("auth:renew", {"token": self.rest.token}))

    async def _renew(self) -> None:
        try:
            renewed = await self.renew()
        except XietongError as exc:
            self._token_stale = True
            log.warning("renewing the token failed: %s", exc)
            self._events.emit("auth:renew_failed", {"code": exc.code, "message": exc.message})
            return
        self._events.emit("auth:renewed", renewed)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # connecting and reconnecting ----------------------------------------------------------

    async def _open(self, url: str) -> None:
        """Connect to `url` and catch up; pushes arriving meanwhile wait until it is done,
        so subscribers see what was missed before what came after it."""
        self.rest.base_url = url.rstrip("/")
        if self._token_stale or self.rest.expired():
            await self.rest.refresh()
            self._token_stale = False
        self._syncing = True
        caught_up = False
        try:
            await self.connection.connect(url, {"token": self.rest.token, "client": self.kind},
                                          transports=self.transports,
                                          wait_timeout=self.timeout)
            self._ready_event().set()
            if self._sync:
                await Resync(self.state, self.connection.call, self._deliver).run()
            if self._started:  # the new socket has none of the old one's subscriptions
                for event, data in [*await self.presence.restore(self.connection.call),
                                    *await self.rooms.restore(self.connection.call)]:
                    self._deliver(event, data)
            caught_up = True
        except BaseException:
            await self.connection.disconnect()  # connected but not caught up: try again
            raise
        finally:
            self._flush(caught_up)

    def _flush(self, caught_up: bool) -> None:
        buffered, self._buffer = self._buffer, []
        self._syncing = False
        for event, data in buffered:
            # Missed messages and feed events not yet replayed come again with the next
            # catch-up; delivering them now would move the cursors past what is missing.
            if caught_up or (event != "msg:new" and event not in FEED_EVENTS):
                self._deliver(event, data)

    def _on_disconnect(self, reason: str) -> None:
        if self._ready is not None:
            self._ready.clear()
        if self._closing or not self._started or self._reconnect_task is not None:
            return  # closed on purpose, never up, or the reconnect loop is on it
        if self._revoked:
            self._events.emit("connection:closed", {"reason": "revoked"})
            return
        self._events.emit("connection:lost", {"reason": reason,
                                              "reconnecting": self.reconnect})
        if self.reconnect:
            delay, self._drain_delay = self._drain_delay, None
            if delay is not None:
                self._url_index += 1  # that node is going away: try the next one first
                delay = Backoff.spread(delay)
            self._reconnect_task = asyncio.get_running_loop().create_task(
                self._reconnect_loop(delay))

    async def _reconnect_loop(self, first_delay: float | None) -> None:
        attempt = 0
        delay = first_delay
        while not self._closing:
            await asyncio.sleep(self.backoff.delay(attempt) if delay is None else delay)
            delay = None
            url = self.url
            try:
                await self._open(url)
            except Unauthorized:
                if not await self._refresh_or_give_up():
                    return
            except (XietongError, OSError, aiohttp.ClientError) as exc:
                log.info("reconnecting to %s failed: %s", url, exc)
            if self.connection.connected:
                self._reconnect_task = None  # from here a drop starts a new loop
                self._events.emit("connection:restored", {"url": url, "attempts": attempt + 1})
                return
            attempt += 1
            self._url_index += 1

    async def _refresh_or_give_up(self) -> bool:
        try:
            await self.rest.refresh()
            self._token_stale = False
            return True
        except Unauthorized as exc:
            self._reconnect_task = None
            self._events.emit("connection:closed", {"reason": "unauthorized",
                                                    "message": exc.message})
            return False
        except XietongError:
            return True  # the node may be down: try again later
