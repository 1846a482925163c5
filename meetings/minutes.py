"""Minutes (会议纪要): after the meeting a host drafts them against its agenda, with the
attendance and the votes' results as the server recorded them; sent, they go out as a
`circulation` card that every host signs (会签); signed, they reach everyone on the roll.

One record per meeting, changed by compare-and-set on its `version`: two hosts saving drafts
at once, the second gets `conflict` with the minutes as the first left them; two sends make
one circulation. A draft is frozen once sent; the hosts' signatures make it `signed`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from cards.models import Card
from core.clock import Clock, iso
from core.errors import BadRequest, Conflict, Forbidden, NotFound
from core.mongo import Database, Document
from meetings.checkin import Attendance
from meetings.records import ENDED, Meeting
from meetings.votes import Motion

FLOW = "circulation"
MAX_NOTES = 5000


class MinutesStatus(StrEnum):
    DRAFT = "draft"
    CIRCULATING = "circulating"
    SIGNED = "signed"


class Meetings(Protocol):
    async def get(self, meeting_id: str) -> Meeting: ...


class Attendances(Protocol):
    async def get_attendance(self, meeting_id: str, user_id: str) -> Attendance: ...


class Motions(Protocol):
    async def motions(self, user_id: str, meeting_id: str) -> list[Motion]: ...


class Names(Protocol):
    async def names(self, user_ids: Sequence[str]) -> dict[str, str]: ...


class Circulation(Protocol):
    """Starts the sign-off and tells the roll once it is signed (cards)."""

    async def start(self, host: str, meeting: Meeting, title: str, content: str) -> str: ...

    async def signed(self, meeting: Meeting, title: str, content: str) -> None: ...


@dataclass(frozen=True)
class ItemNotes:
    item_id: str
    title: str
    notes: str

    def to_wire(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "title": self.title, "notes": self.notes}


@dataclass(frozen=True)
class Minutes:
    meeting_id: str
    status: MinutesStatus
    version: int
    summary: str
    items: tuple[ItemNotes, ...]
    attendance: dict[str, Any]  # the roll-up as it was when last saved
    motions: tuple[dict[str, Any], ...]  # the closed motions with their results
    drafted_by: str
    updated_at: str
    card_id: str | None = None
    signed_at: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"meeting_id": self.meeting_id, "status": self.status.value,
                "version": self.version, "summary": self.summary,
                "items": [i.to_wire() for i in self.items], "attendance": self.attendance,
                "motions": list(self.motions), "drafted_by": self.drafted_by,
                "updated_at": self.updated_at, "card_id": self.card_id,
                "signed_at": self.signed_at}

    def to_doc(self) -> Document:
        wire = self.to_wire()
        wire["_id"] = wire.pop("meeting_id")
        return wire

    @classmethod
    def from_doc(cls, doc: Document) -> Minutes:
        return cls(meeting_id=doc["_id"], status=MinutesStatus(doc["status"]),
                   version=int(doc["version"]), summary=doc["summary"],
                   items=tuple(ItemNotes(i["item_id"], i["title"], i["notes"])
                               for i in doc["items"]),
                   attendance=doc["attendance"], motions=tuple(doc["motions"]),
                   drafted_by=doc["drafted_by"], updated_at=doc["updated_at"],
                   card_id=doc.get("card_id"), signed_at=doc.get("signed_at"))

    def text(self, meeting: Meeting, names: dict[str, str]) -> str:
        """The minutes as the sign-off card and the notice show them."""
        def who(user_ids: Sequence[str]) -> str:
            return "、".join(names.get(u, u) for u in user_ids) or "无"

        by_status: dict[str, list[str]] = {}
        for member in self.attendance.get("members", ()):
            by_status.setdefault(member["status"], []).append(member["user_id"])
        lines = [f"会议：{meeting.title}",
                 f"出席：{who(by_status.get('signed_in', []))}",
                 f"请假：{who(by_status.get('on_leave', []))}",
                 f"缺席：{who(by_status.get('absent', []))}", "", "议程："]
        lines += [f"{n}. {item.title}：{item.notes or '（无记录）'}"
                  for n, item in enumerate(self.items, 1)]
        if self.motions:
            lines += ["", "表决："]
            for motion in self.motions:
                result = motion.get("result") or {}
                counts = "，".join(f"{c['option']} {c['count']}" for c in result.get("counts", ()))
                outcome = f"通过“{result['winner']}”" if result.get("winner") else "未形成决议"
                lines.append(f"- {motion['title']}：{counts}（{outcome}）")
        if self.summary:
            lines += ["", f"纪要：{self.summary}"]
        return "\n".join(lines)


class MinutesStore:
    def __init__(self, db: Database) -> None:
        self._minutes = db["minutes"]

    async def get(self, meeting_id: str) -> Minutes | None:
        doc = await self._minutes.find_one({"_id": meeting_id})
        return Minutes.from_doc(doc) if doc else None

    async def insert(self, minutes: Minutes) -> bool:
        try:
            await self._minutes.insert_one(minutes.to_doc())
        except DuplicateKeyError:
            return False
        return True

    async def set_card(self, meeting_id: str, card_id: str) -> Minutes | None:
        doc = await self._minutes.find_one_and_update(
            {"_id": meeting_id}, {"$set": {"card_id": card_id}},
            return_document=ReturnDocument.AFTER)
        return Minutes.from_doc(doc) if doc else None

    async def replace(self, before: Minutes, after: Minutes) -> Minutes | None:
        """`after` if the record is still at `before`'s version and status."""
        doc = await self._minutes.find_one_and_update(
            {"_id": before.meeting_id, "version": before.version,
             "status": before.status.value},
            {"$set": {k: v for k, v in after.to_doc().items() if k != "_id"}},
            return_document=ReturnDocument.AFTER)
        return Minutes.from_doc(doc) if doc else None


class MinutesService:
    def __init__(self, store: MinutesStore, meetings: Meetings, attendances: Attendances,
                 motions: Motions, circulation: Circulation, names: Names,
                 clock: Clock) -> None:
        self._store = store
        self._names = names
        self._meetings = meetings
        self._attendances = attendances
        self._motions = motions
        self._circulation = circulation
        self._clock = clock

    async def save(self, host: str, meeting_id: str, version: int, summary: str,
                   notes: dict[str, str]) -> Minutes:
        """Save the draft at `version` (0: the first draft): the notes per agenda item and a
        summary, with the attendance and the closed motions taken afresh."""
        meeting = await self._ended_meeting(host, meeting_id)
        unknown = [item_id for item_id in notes if item_id not in
                   {item.id for item in meeting.agenda}]
        if unknown:
            raise BadRequest("items: not on this meeting's agenda", {"item_ids": unknown})
        if any(len(text) > MAX_NOTES for text in (summary, *notes.values())):
            raise BadRequest(f"notes and summary: at most {MAX_NOTES} characters each")
        attendance = await self._attendances.get_attendance(meeting.id, host)
        motions = [m.to_wire() for m in await self._motions.motions(host, meeting.id)
                   if m.result() is not None]
        draft = Minutes(meeting.id, MinutesStatus.DRAFT, version + 1, summary,
                        tuple(ItemNotes(i.id, i.title, notes.get(i.id, ""))
                              for i in meeting.agenda),
                        attendance.to_wire(), tuple(motions), host, iso(self._clock.now()))
        current = await self._store.get(meeting.id)
        if current is None and version == 0:
            if await self._store.insert(draft):
                return draft
            current = await self._store.get(meeting.id)
        if current is None:
            raise Conflict("there are no minutes at that version; save version 0 first")
        self._refuse_stale(current, version)
        stored = await self._store.replace(current, draft)
        if stored is None:
            raise self._stale(await self._store.get(meeting.id) or current)
        return stored

    async def send(self, host: str, meeting_id: str, version: int) -> Minutes:
        """Send the draft at `version` for the hosts' sign-off; of two sends, one circulates
        and the other gets `conflict`."""
        meeting = await self._ended_meeting(host, meeting_id)
        current = await self.get(host, meeting.id)
        self._refuse_stale(current, version)
        claimed = await self._store.replace(current, replace(
            current, status=MinutesStatus.CIRCULATING, version=version + 1,
            updated_at=iso(self._clock.now())))
        if claimed is None:
            raise self._stale(await self._store.get(meeting.id) or current)
        try:
            card_id = await self._circulation.start(
                host, meeting, f"会议纪要：{meeting.title}",
                await self._text(claimed, meeting))
        except BaseException:
            await self._store.replace(claimed, replace(claimed, status=MinutesStatus.DRAFT,
                                                       version=claimed.version + 1))
            raise
        # Not by version: with one host the card is signed, and the record moved on, already.
        return await self._store.set_card(meeting.id, card_id) or claimed

    async def get(self, user_id: str, meeting_id: str) -> Minutes:
        """Hosts see the minutes from the first draft; the rest of the roll once signed."""
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_member(user_id):
            raise Forbidden("only the meeting's organiser, hosts and invitees see its minutes")
        minutes = await self._store.get(meeting.id)
        if minutes is None or (minutes.status is not MinutesStatus.SIGNED
                               and not meeting.is_host(user_id)):
            raise NotFound("no minutes of this meeting yet")
        return minutes

    async def card_settled(self, card: Card) -> None:
        """The circulation card of a meeting's minutes ended: every host signed."""
        form = card.meta.get("form", {})
        meeting_id = form.get("minutes_of") if card.flow == FLOW else None
        if not meeting_id:
            return
        current = await self._store.get(meeting_id)
        if current is None or current.status is not MinutesStatus.CIRCULATING:
            return
        signed = await self._store.replace(current, replace(
            current, status=MinutesStatus.SIGNED, version=current.version + 1,
            signed_at=iso(self._clock.now())))
        if signed is not None:
            meeting = await self._meetings.get(meeting_id)
            await self._circulation.signed(meeting, f"会议纪要：{meeting.title}",
                                           await self._text(signed, meeting))

    async def _text(self, minutes: Minutes, meeting: Meeting) -> str:
        return minutes.text(meeting, await self._names.names(meeting.roll))

    async def _ended_meeting(self, host: str, meeting_id: str) -> Meeting:
        meeting = await self._meetings.get(meeting_id)
        if not meeting.is_host(host):
            raise Forbidden("only a host drafts and sends the minutes")
        if meeting.status != ENDED:
            meeting.refuse_if_over()  # cancelled: gone
            raise Conflict("minutes are drafted once the meeting has ended")
        return meeting

    def _refuse_stale(self, current: Minutes, version: int) -> None:
        if current.version != version or current.status is not MinutesStatus.DRAFT:
            raise self._stale(current)

    @staticmethod
    def _stale(current: Minutes) -> Conflict:
        return Conflict(f"the minutes are {current.status.value} at version {current.version}",
                        {"minutes": current.to_wire()})
