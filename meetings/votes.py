"""Votes (表决) in a paperless meeting: a host opens a motion, each member votes once, a host
closes it and the result is counted.

A vote is two writes. First it claims the voter's ballot, a document whose `_id` is the motion
id and the user id, so of two votes by one person (two devices, a double click) the database's
unique `_id` lets exactly one through. Then it is counted by one update of the motion's
document guarded by `status: open` (and by the voter not being counted yet), which adds the
voter and the option in the same write.

A close is one compare-and-set of that same document's status, open -> closed, and the result
is read from the document that write returns. The database applies writes to one document one
at a time, so a vote racing a close is counted before it (and is in the result) or matches
nothing after it: the voter gets `conflict`, and the ballot it claimed is released. Nothing is
ever counted after the close, and no acknowledged vote is left out of the result.

A node that dies between the claim and the count leaves a ballot that nothing counted; a claim
older than `CLAIM_LEASE` is taken over by compare-and-set, so the voter can vote again, and the
count's guard keeps that from counting anyone twice.

An anonymous motion stores who voted, to hold them to one vote, but never for what."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NoReturn, Protocol

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from core.clock import Clock, iso
from core.errors import BadRequest, Conflict, Forbidden, NotFound
from core.mongo import Database, Document
from meetings.records import Meeting

MIN_OPTIONS, MAX_OPTIONS = 2, 10
# Seconds; longer than any pause between a vote's claim and its count on a live node.
CLAIM_LEASE = 30.0


class Rule(StrEnum):
    SIMPLE_MAJORITY = "simple_majority"  # more than half of the votes cast
    TWO_THIRDS = "two_thirds"  # at least two thirds of the votes cast


class MotionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def meets(rule: Rule, votes: int, cast: int) -> bool:
    if votes == 0:
        return False
    if rule is Rule.SIMPLE_MAJORITY:
        return votes * 2 > cast
    return votes * 3 >= cast * 2


def winner_of(rule: Rule, counts: tuple[int, ...]) -> int | None:
    """The index of the one option the rule carries; none when no option or several do."""
    cast = sum(counts)
    carried = [i for i, votes in enumerate(counts) if meets(rule, votes, cast)]
    return carried[0] if len(carried) == 1 else None


@dataclass(frozen=True)
class Result:
    options: tuple[str, ...]
    counts: tuple[int, ...]
    members: int
    winner: int | None
    ballots: tuple[tuple[str, int], ...] | None  # (user, option index); None when anonymous

    def to_wire(self) -> dict[str, Any]:
        ballots = None if self.ballots is None else [
            {"user_id": user, "option": self.options[index]} for user, index in self.ballots]
        return {"counts": [{"option": option, "count": count}
                           for option, count in zip(self.options, self.counts, strict=True)],
                "cast": sum(self.counts), "members": self.members,
                "winner": None if self.winner is None else self.options[self.winner],
                "ballots": ballots}


@dataclass(frozen=True)
class Motion:
    id: str
    meeting_id: str
    title: str
    options: tuple[str, ...]
    rule: Rule
    anonymous: bool
    status: MotionStatus
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: str | None  # stored as its wire string, see MotionStore
    members: int | None  # how many could vote, fixed by the close
    counts: tuple[int, ...]
    voters: tuple[str, ...]
    ballots: tuple[tuple[str, int], ...]

    def index_of(self, option: str) -> int:
        try:
            return self.options.index(option)
        except ValueError:
            raise BadRequest(f"option: not one of the motion's options: {option}") from None

    def result(self) -> Result | None:
        """Only once closed: while open the split would sway the votes still to come."""
        if self.status is not MotionStatus.CLOSED:
            return None
        return Result(self.options, self.counts, self.members or 0,
                      winner_of(self.rule, self.counts),
                      None if self.anonymous else self.ballots)

    def to_wire(self) -> dict[str, Any]:
        result = self.result()
        return {"id": self.id, "meeting_id": self.meeting_id, "title": self.title,
                "options": list(self.options), "rule": str(self.rule),
                "anonymous": self.anonymous, "status": str(self.status),
                "opened_by": self.opened_by, "opened_at": iso(self.opened_at),
                "closed_by": self.closed_by, "closed_at": self.closed_at,
                "cast": len(self.voters), "result": result.to_wire() if result else None}

    @classmethod
    def from_doc(cls, doc: Document) -> Motion:
        options = tuple(doc["options"])
        counts = doc.get("counts") or {}
        return cls(id=doc["_id"], meeting_id=doc["meeting_id"], title=doc["title"],
                   options=options, rule=Rule(doc["rule"]), anonymous=bool(doc["anonymous"]),
                   status=MotionStatus(doc["status"]), opened_by=doc["opened_by"],
                   opened_at=doc["opened_at"], closed_by=doc.get("closed_by"),
                   closed_at=doc.get("closed_at"), members=doc.get("members"),
                   counts=tuple(int(counts.get(_count_key(i), 0)) for i in range(len(options))),
                   voters=tuple(doc.get("voters") or ()),
                   ballots=tuple(sorted(_ballot(entry) for entry in doc.get("votes") or ())))


def _count_key(index: int) -> str:
    # Not a bare digit: a numeric path segment reads as an array index to some servers.
    return f"o{index}"


def _ballot(entry: str) -> tuple[str, int]:
    index, _, user = entry.partition(":")
    return user, int(index)


class MotionStore:
    """`motions`, one document per motion, counts included; `motion_ballots`, one claim per
    voter and motion. Only equality, `$nin`, `$addToSet` of strings and `$inc` of a nested
    field: shapes nx-27017 gets right (shared/research/nx-27017.md). It stores a datetime
    written by `$set` as a naive string, so what is set later holds no datetime: the close's
    time is its wire string and a claim's time is epoch seconds."""

    def __init__(self, db: Database) -> None:
        self._motions = db["motions"]
        self._ballots = db["motion_ballots"]

    async def ensure_indexes(self) -> None:
        await self._motions.create_index([("meeting_id", ASCENDING), ("opened_at", ASCENDING)])

    async def add_motion(self, doc: Document) -> Motion:
        await self._motions.insert_one(doc)
        return Motion.from_doc(doc)

    async def get(self, motion_id: str) -> Motion | None:
        doc = await self._motions.find_one({"_id": motion_id})
        return Motion.from_doc(doc) if doc else None

    async def of_meeting(self, meeting_id: str) -> list[Motion]:
        cursor = self._motions.find({"meeting_id": meeting_id}).sort(
            [("opened_at", ASCENDING), ("_id", ASCENDING)])
        return [Motion.from_doc(doc) async for doc in cursor]

    @staticmethod
    def _ballot_id(motion_id: str, user_id: str) -> str:
        return f"{motion_id}|{user_id}"

    async def claim_ballot(self, motion_id: str, user_id: str, claim: str,
                           now: float) -> bool:
        try:
            await self._ballots.insert_one({"_id": self._ballot_id(motion_id, user_id),
                                            "motion_id": motion_id, "user_id": user_id,
                                            "claim": claim, "at": now})
        except DuplicateKeyError:
            return False
        return True

    async def take_over_ballot(self, motion_id: str, user_id: str, claim: str, now: float,
                               stale_before: float) -> bool:
        taken = await self._ballots.find_one_and_update(
            {"_id": self._ballot_id(motion_id, user_id), "at": {"$lt": stale_before}},
            {"$set": {"claim": claim, "at": now}})
        return taken is not None

    async def release_ballot(self, motion_id: str, user_id: str, claim: str) -> None:
        # Guarded by the claim: a ballot taken over meanwhile is someone else's to keep.
        await self._ballots.delete_one({"_id": self._ballot_id(motion_id, user_id),
                                        "claim": claim})

    async def count_vote(self, motion: Motion, user_id: str, index: int) -> bool:
        added: dict[str, str] = {"voters": user_id}
        if not motion.anonymous:
            added["votes"] = f"{index}:{user_id}"
        counted = await self._motions.find_one_and_update(
            {"_id": motion.id, "status": str(MotionStatus.OPEN), "voters": {"$nin": [user_id]}},
            {"$addToSet": added, "$inc": {f"counts.{_count_key(index)}": 1}})
        return counted is not None

    async def close(self, motion_id: str, user_id: str, now: datetime,
                    members: int) -> Motion | None:
        closed = await self._motions.find_one_and_update(
            {"_id": motion_id, "status": str(MotionStatus.OPEN)},
            {"$set": {"status": str(MotionStatus.CLOSED), "closed_by": user_id,
                      "closed_at": iso(now), "members": members}},
            return_document=ReturnDocument.AFTER)
        return Motion.from_doc(closed) if closed else None


class MeetingLookup(Protocol):
    async def get(self, meeting_id: str) -> Meeting: ...


@dataclass(frozen=True)
class Announcement:
    """A motion that changed, and who is to hear of it."""

    motion: Motion
    audience: frozenset[str]


def _checked_options(options: list[str]) -> tuple[str, ...]:
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise BadRequest(f"options: between {MIN_OPTIONS} and {MAX_OPTIONS} options")
    if any(not option.strip() for option in options):
        raise BadRequest("options: an option is blank")
    if len(set(options)) != len(options):
        raise BadRequest("options: each option once")
    return tuple(options)


def _checked_rule(rule: str) -> Rule:
    try:
        return Rule(rule)
    except ValueError:
        raise BadRequest(f"rule: one of {', '.join(Rule)}") from None


class VoteService:
    def __init__(self, store: MotionStore, meetings: MeetingLookup, clock: Clock) -> None:
        self._store = store
        self._meetings = meetings
        self._clock = clock

    async def open(self, user_id: str, meeting_id: str, title: str, options: list[str],
                   rule: str, anonymous: bool) -> Announcement:
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host opens a motion")
        meeting.refuse_if_over()
        motion = await self._store.add_motion({
            "_id": f"mot_{secrets.token_hex(8)}", "meeting_id": meeting.id, "title": title,
            "options": list(_checked_options(options)), "rule": str(_checked_rule(rule)),
            "anonymous": anonymous, "status": str(MotionStatus.OPEN), "opened_by": user_id,
            "opened_at": self._clock.now(), "closed_by": None, "closed_at": None,
            "members": None, "counts": {_count_key(i): 0 for i in range(len(options))},
            "voters": [], "votes": []})
        return Announcement(motion, meeting.members)

    async def vote(self, user_id: str, motion_id: str, option: str) -> None:
        motion = await self._motion(motion_id)
        meeting = await self._meetings.get(motion.meeting_id)
        if user_id not in meeting.members:
            raise Forbidden("only the meeting's organiser, hosts and invitees vote")
        index = motion.index_of(option)
        if motion.status is MotionStatus.CLOSED:
            raise Conflict("the motion is closed")
        claim = await self._claim(motion.id, user_id)
        if not await self._store.count_vote(motion, user_id, index):
            await self._refuse(motion.id, user_id, claim)

    async def _claim(self, motion_id: str, user_id: str) -> str:
        claim, now = secrets.token_hex(8), self._clock.time()
        if await self._store.claim_ballot(motion_id, user_id, claim, now):
            return claim
        # Held: by this voter's counted vote, by one still on its way from another device, or
        # by a node that died before counting; only the last is old enough to take over.
        if await self._store.take_over_ballot(motion_id, user_id, claim, now,
                                              now - CLAIM_LEASE):
            return claim
        raise Conflict("you have already voted on this motion")

    async def _refuse(self, motion_id: str, user_id: str, claim: str) -> NoReturn:
        """The count matched nothing: this voter was counted already, or the motion closed
        between the claim and the count."""
        motion = await self._motion(motion_id)
        if user_id in motion.voters:
            raise Conflict("you have already voted on this motion")
        await self._store.release_ballot(motion_id, user_id, claim)
        raise Conflict("the motion closed before your vote was counted")

    async def close(self, user_id: str, motion_id: str) -> Announcement:
        motion = await self._motion(motion_id)
        meeting = await self._meetings.get(motion.meeting_id)
        if not meeting.is_host(user_id):
            raise Forbidden("only a host closes a motion")
        members = meeting.members
        closed = await self._store.close(motion.id, user_id, self._clock.now(), len(members))
        if closed is None:
            raise Conflict("the motion is closed already")
        return Announcement(closed, members)

    async def motions(self, user_id: str, meeting_id: str) -> list[Motion]:
        meeting = await self._meetings.get(meeting_id)
        if user_id not in meeting.members:
            raise Forbidden("only the meeting's organiser, hosts and invitees see its motions")
        return await self._store.of_meeting(meeting.id)

    async def _motion(self, motion_id: str) -> Motion:
        motion = await self._store.get(motion_id)
        if motion is None:
            raise NotFound(f"no motion {motion_id}")
        return motion
