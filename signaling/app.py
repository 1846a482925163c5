"""The composition root: config -> child services -> clients -> stores -> services ->
Socket.IO server -> aiohttp app. Everything is built here and nowhere else."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

import socketio
from aiohttp import web
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from cards.audit import AuditLog
from cards.flows.circulation import CirculationFlow
from cards.flows.deadlines import Deadlines
from cards.flows.delegation import Delegations
from cards.flows.engine import FlowEngine
from cards.flows.follows import FollowLinks
from cards.flows.incoming_doc import IncomingDocFlow
from cards.flows.leave import LeaveFlow
from cards.flows.leave_periods import LeaveCalendar
from cards.flows.leave_return import LeaveReturnFlow
from cards.flows.room_booking import RoomBookingFlow
from cards.flows.supplies import SuppliesFlow
from cards.flows.trip import TripFlow
from cards.integration.callbacks import CallbackPolicy
from cards.integration.service import OAIntegration
from cards.models import Card
from cards.service import CardService
from cards.store import BoxQueries, CardStore
from chat.card_posts import CardConversations
from chat.changes import ChangeFeed, Notifier
from chat.conversations import ConversationService
from chat.files import FileService
from chat.messages import MessageStore
from chat.messaging import MessageService
from chat.policy import ChatPolicy
from chat.previews import LastMessages
from chat.receipts import ReceiptBatcher
from chat.sequence import SendRate, SequenceAllocator
from chat.store import ConversationStore
from chat.urgent import UrgentNotices
from core.auth.ratelimit import WindowCounter
from core.auth.secret import ensure_secret_key
from core.auth.service import AuthPolicy, AuthService
from core.auth.tokens import TokenCodec
from core.bus import EventBus
from core.clock import Clock, SystemClock
from core.config import Config, ConfigError
from core.crypto import FieldCipher, cipher_for
from core.directory.demo import demo_directory
from core.directory.importer import DirectoryImporter
from core.directory.service import DirectoryService
from core.directory.store import DirectoryStore
from core.embedded import ChildService, start_mongo, start_redis
from core.mongo import Database, Document, connect_mongo, ping
from core.presence.service import PresencePolicy, PresenceService
from core.presence.store import PresenceStore
from core.redis import Keys, connect_redis
from media.recorder import Recorders
from media.runtime import MediaNode, bus_push
from meetings.checkin import CheckinService, CheckinStore
from meetings.controls import HostControls
from meetings.invitations import CardInvitations
from meetings.materials import MaterialService, MaterialStore
from meetings.minutes import MinutesService, MinutesStore
from meetings.recordings import RecordingService, RecordingStore
from meetings.records import MeetingService, MeetingStore
from meetings.signoff import CardSignoff
from meetings.votes import MotionStore, VoteService
from rooms.approvals import CardNotices, RoomApprovals
from rooms.booking_store import BookingStore
from rooms.bookings import BookingService
from rooms.busy_index import BusyIndex
from rooms.catalogue import RoomCatalogue
from rooms.catalogue_store import RoomStore
from rooms.demo import seed_demo_rooms
from rooms.live import LiveRooms, RoomTimers
from signaling.card_events import CardEvents
from signaling.chat_events import ChatEvents
from signaling.checkin_events import CheckinEvents
from signaling.errors import error_middleware
from signaling.fanout import RedisFanout
from signaling.gateway import SocketGateway
from signaling.meeting_events import MeetingEvents
from signaling.metrics import Metrics, http_metrics_middleware
from signaling.minutes_events import MinutesEvents
from signaling.recording_events import RecordingEvents
from signaling.rest.apps import AppRoutes
from signaling.rest.auth import AuthRoutes
from signaling.rest.bookings import BookingRoutes
from signaling.rest.cards import CardRoutes
from signaling.rest.common import RequestContext
from signaling.rest.directory import DirectoryRoutes
from signaling.rest.files import FileRoutes
from signaling.rest.flows import FlowRoutes
from signaling.rest.materials import MaterialRoutes
from signaling.rest.ops import OpsRoutes
from signaling.rest.recordings import RecordingRoutes
from signaling.rest.rooms import RoomRoutes
from signaling.room_events import RoomEvents
from signaling.vote_events import VoteEvents
from signaling.websocket import DirectSockets
from signaling.websocket import install as install_websocket

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024
_SHUTDOWN_SECONDS = 2.0


@dataclass
class Services:
    bus: EventBus
    directory: DirectoryService
    auth: AuthService
    presence: PresenceService
    conversations: ConversationService
    messages: MessageService
    feed: ChangeFeed
    files: FileService
    receipts: ReceiptBatcher
    urgent: UrgentNotices
    cards: CardService
    deadlines: Deadlines
    integration: OAIntegration
    rooms: RoomCatalogue
    bookings: BookingService
    live_rooms: LiveRooms
    meetings: MeetingService
    media: MediaNode
    meeting_events: MeetingEvents
    recordings: RecordingService
    materials: MaterialService


@dataclass
class Node:
    """One running server node and everything it owns."""

    config: Config
    clock: Clock
    redis: Redis
    mongo: AsyncMongoClient[Document]
    db: Database
    services: Services
    gateway: SocketGateway
    fanout: RedisFanout
    metrics: Metrics
    app: web.Application
    children: list[ChildService] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int | None = None

    async def serve(self) -> int:
        """Listen on HOST:PORT (PORT 0 picks a free port); returns the port."""
        # After draining, an open long-poll must not hold the shutdown for its full period.
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                                    shutdown_timeout=_SHUTDOWN_SECONDS)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port, backlog=2048)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port
        return self.port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def close(self) -> None:
        """Drain sockets, stop tasks, close clients, stop children, in that order."""
        with contextlib.suppress(Exception):
            await self.gateway.drain(self.config.drain_retry_after_ms)
        await self.gateway.stop()
        with contextlib.suppress(Exception):
            await self.services.presence.stop()
        with contextlib.suppress(Exception):
            await self.services.urgent.stop()
        with contextlib.suppress(Exception):
            await self.services.receipts.stop()
        with contextlib.suppress(Exception):
            await self.services.deadlines.stop()
        with contextlib.suppress(Exception):
            await self.services.integration.stop()
        with contextlib.suppress(Exception):
            await self.services.live_rooms.stop()
        with contextlib.suppress(Exception):
            await self.services.bookings.stop()
        with contextlib.suppress(Exception):
            await self.services.meeting_events.stop()
        with contextlib.suppress(Exception):
            await self.services.materials.stop()
        with contextlib.suppress(Exception):
            await self.services.media.stop()
        with contextlib.suppress(Exception):  # the copies of the files just closed
            await self.services.recordings.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        with contextlib.suppress(Exception):
            await self.gateway.sio.shutdown()
        await self.fanout.close()
        await self.redis.aclose()
        await self.mongo.close()
        for child in reversed(self.children):
            await child.stop()


async def start_children(config: Config) -> tuple[str, str, list[ChildService]]:
    """The real Redis and MongoDB-wire servers of the embedded default, where no URL is set."""
    children: list[ChildService] = []
    redis_url, mongo_url = config.redis_url, config.mongo_url
    try:
        if redis_url is None:
            child = await start_redis(config.data_dir)
            children.append(child)
            redis_url = child.url
        if mongo_url is None:
            child = await start_mongo(config.data_dir)
            children.append(child)
            mongo_url = child.url
    except BaseException:
        for started in children:
            started.kill()
        raise
    return redis_url, mongo_url, children


async def build_node(config: Config, clock: Clock | None = None) -> Node:
    clock = clock or SystemClock()
    try:
        cipher = cipher_for(config.field_key, config.mongo_url is not None, config.data_dir)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    redis_url, mongo_url, children = await start_children(config)
    redis = connect_redis(redis_url)
    mongo = connect_mongo(mongo_url)
    try:
        return await _assemble(config, clock, cipher, redis_url, redis, mongo, children)
    except BaseException:
        await redis.aclose()
        await mongo.close()
        for child in children:
            child.kill()
        raise


async def _assemble(config: Config, clock: Clock, cipher: FieldCipher, redis_url: str,
                    redis: Redis, mongo: AsyncMongoClient[Document],
                    children: list[ChildService]) -> Node:
    db = mongo[config.mongo_db]
    await ping(db)
    await redis.ping()
    keys = Keys(config.redis_prefix)
    bus = EventBus()
    metrics = Metrics()

    directory_store = DirectoryStore(db)
    await directory_store.ensure_indexes()
    importer = DirectoryImporter(directory_store, password_hash_n=config.password_hash_n)
    directory = DirectoryService(directory_store, importer, bus, clock)
    if config.demo:
        result = await directory.do_import(demo_directory())
        log.info("demo organisation: %s", result.to_wire())

    codec = TokenCodec(await ensure_secret_key(db, config.secret_key))
    auth = AuthService(
        directory_store, codec, bus, clock,
        AuthPolicy(config.access_token_ttl, config.refresh_token_ttl, config.password_hash_n),
        WindowCounter(redis, keys, "login-user", config.login_max_per_user, config.login_window),
        WindowCounter(redis, keys, "login-addr", config.login_max_per_address,
                      config.login_window))
    presence = PresenceService(
        PresenceStore(redis, keys), bus, clock, config.node_id,
        PresencePolicy(config.presence_ttl, config.presence_idle_after,
                       config.presence_offline_grace))
    policy = ChatPolicy(text_max=config.chat_text_max,
                        group_max_members=config.chat_group_max_members,
                        recall_window=config.recall_window,
                        urgent_interval=config.urgent_interval,
                        file_max_bytes=config.file_max_bytes)
    conversation_store = ConversationStore(db)
    message_store = MessageStore(db)
    feed = ChangeFeed(db, redis, keys, clock, config.changes_retention)
    notifier = Notifier(feed, bus)
    sequences = SequenceAllocator(redis, keys)
    conversations = ConversationService(conversation_store, message_store, sequences,
                                        directory, notifier, clock, policy)
    bus.subscribe(conversations.on_domain_event)
    files = FileService(db, conversations, clock, config.file_max_bytes)
    receipts = ReceiptBatcher(message_store, notifier, clock)
    urgent = UrgentNotices(db, notifier, clock, config.urgent_interval)
    for store in (conversation_store, message_store, feed, urgent):
        await store.ensure_indexes()
    messages = MessageService(
        message_store, conversations, sequences, LastMessages(redis, keys), files, receipts,
        urgent, notifier, bus, directory,
        SendRate(config.send_rate_max, config.send_rate_window),
        clock, policy)
    card_store = CardStore(db, cipher)
    cards = CardService(card_store, notifier, clock)
    boxes = BoxQueries(db, card_store)
    await boxes.ensure_indexes()
    audit = AuditLog(db, clock)
    await audit.ensure_indexes()
    delegations = Delegations(db, clock)
    deadlines = Deadlines(db, clock)
    flows = FlowEngine(cards, boxes, directory, audit, delegations, deadlines,
                       FollowLinks(db), files,
                       [LeaveFlow(), LeaveReturnFlow(), TripFlow(), IncomingDocFlow(),
                        CirculationFlow(), SuppliesFlow(), RoomBookingFlow(config.org_tz)])
    messages.set_card_views(cards)
    files.set_card_access(cards.holds_any)

    async def deliver_card(user_id: str, card: Card) -> None:
        await messages.post_card(user_id, card.id)

    cards.set_delivery(deliver_card, CardConversations(conversations, messages))
    integration = OAIntegration(db, cards, card_store, directory, clock, CallbackPolicy(
        config.card_callback_timeout, config.card_callback_attempts,
        config.card_callback_backoff), cipher)
    await integration.ensure_indexes()
    room_store = RoomStore(db)
    await room_store.ensure_indexes()
    if config.demo:
        log.info("demo rooms: %d added", await seed_demo_rooms(room_store))
    rooms = RoomCatalogue(room_store, directory, clock)
    booking_store = BookingStore(db)
    await booking_store.ensure_indexes()
    approvals = RoomApprovals(flows, config.org_tz)
    bookings = BookingService(booking_store, BusyIndex(redis, keys, config.org_tz), rooms,
                              directory, clock, config.org_tz, approvals, CardNotices(cards))
    approvals.on_decided(bookings.decided)
    rooms.on_change(bookings.room_changed)
    live_rooms = LiveRooms(bookings, rooms, RoomTimers(redis, keys), bus, clock,
                           config.room_tick)
    bookings.on_change(live_rooms.changed)
    meeting_store = MeetingStore(db)
    meetings = MeetingService(meeting_store, directory, bookings, rooms,
                              CardInvitations(cards, directory, config.org_tz), clock)
    bookings.on_ceased(meetings.booking_ceased)
    material_store = MaterialStore(db)
    await material_store.ensure_indexes()
    materials = MaterialService(material_store, meetings, clock, config.file_max_bytes,
                                bus.publish)
    motion_store = MotionStore(db)
    await motion_store.ensure_indexes()
    votes = VoteService(motion_store, meetings, clock)
    checkin_store = CheckinStore(db)
    await checkin_store.ensure_indexes()
    checkins = CheckinService(checkin_store, meetings, bookings, LeaveCalendar(boxes), clock,
                              config.org_tz)
    minutes = MinutesService(MinutesStore(db), meetings, checkins, votes,
                             CardSignoff(flows, cards), directory, clock)
    flows.on_settled(minutes.card_settled)
    recording_store = RecordingStore(db)
    await recording_store.ensure_indexes()
    recordings = RecordingService(recording_store, meetings, clock, config.node_id)
    media = MediaNode(redis, keys, clock, config.node_id, bus_push(bus),
                      list(config.media_host_addresses), config.media_node_ttl,
                      config.keyframe_interval,
                      Recorders(config.data_dir / "recordings", recordings))
    meeting_events = MeetingEvents(meetings, HostControls(meeting_store, meetings),
                                   media.router, clock)
    meeting_events.on_over(materials.meeting_over)
    services = Services(bus, directory, auth, presence, conversations, messages, feed, files,
                        receipts, urgent, cards, deadlines, integration, rooms=rooms,
                        bookings=bookings, live_rooms=live_rooms, meetings=meetings,
                        media=media, meeting_events=meeting_events, recordings=recordings,
                        materials=materials)

    direct = DirectSockets()
    manager = RedisFanout(redis_url, channel=keys("socketio"))
    manager.direct = direct
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager,
                               cors_allowed_origins="*", http_compression=False,
                               logger=False, engineio_logger=False,
                               max_http_buffer_size=1_000_000)
    install_websocket(sio, compress=config.ws_compression, direct=direct)
    gateway = SocketGateway(sio, auth, presence, metrics, clock, config.token_expiry_warning)
    bus.subscribe(gateway.deliver)
    ChatEvents(conversations, messages, feed, policy).register(gateway)
    CardEvents(cards, flows, delegations).register(gateway)
    RoomEvents(live_rooms).register(gateway)
    meeting_events.register(gateway)
    VoteEvents(votes).register(gateway)
    CheckinEvents(checkins).register(gateway)
    MinutesEvents(minutes).register(gateway)
    RecordingEvents(recordings, media.router).register(gateway)
    metrics.watch_media(lambda: media.sfu.stats)

    app = web.Application(middlewares=[http_metrics_middleware(metrics), error_middleware],
                          client_max_size=MAX_BODY_BYTES)
    sio.attach(app)
    context = RequestContext(auth)
    AuthRoutes(auth, context).register(app)
    DirectoryRoutes(directory, context).register(app)
    FileRoutes(files, context).register(app)
    MaterialRoutes(materials, context).register(app)
    FlowRoutes(flows, context).register(app)
    AppRoutes(integration.apps, context).register(app)
    CardRoutes(integration).register(app)
    RoomRoutes(rooms, context, availability=bookings).register(app)
    BookingRoutes(bookings, rooms, context, meetings).register(app)
    RecordingRoutes(recordings, context).register(app)

    async def check_redis() -> object:
        return await redis.ping()

    async def check_mongo() -> object:
        await ping(db)
        return True

    OpsRoutes(config.node_id, {"redis": check_redis, "mongo": check_mongo}, metrics).register(app)

    await presence.start()
    receipts.start()
    urgent.start(message_store.get_many, conversations.is_member)
    deadlines.start(flows.on_deadline)
    integration.start()
    live_rooms.start()
    await bookings.start()
    await media.start()
    meeting_events.start()
    materials.start()
    gateway.start()
    return Node(config, clock, redis, mongo, db, services, gateway, manager, metrics, app,
                children)
