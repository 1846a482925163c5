"""How the people of a meeting hear of it: by cards in their work notifications (as DingTalk's
meeting invitations do). The invitation shows the time, room, hosts and agenda with a join
link; it follows the agenda as hosts change it, and turns `cancelled` (no join link) when the
meeting is called off, which also reaches everyone as a notice of its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo

from cards.models import Action, Card, as_fields
from cards.service import CardService
from core.directory.service import DirectoryService
from meetings.agenda import agenda_lines
from meetings.records import Meeting

KIND = "meeting_invite"
JOIN = "join"


def join_url(meeting_id: str) -> str:
    return f"/meetings/{meeting_id}"


class CardInvitations:
    def __init__(self, cards: CardService, directory: DirectoryService, tz: tzinfo) -> None:
        self._cards = cards
        self._directory = directory
        self._tz = tz

    async def invite(self, meeting: Meeting) -> str | None:
        """One card held by everyone on the roll, delivered to all but the organiser, who
        sent it."""
        people = meeting.roll
        card = await self._cards.create(
            kind=KIND, title=f"会议邀请：{meeting.title}", holders=people,
            actions=(Action(JOIN, "进入会议", style="primary", url=join_url(meeting.id)),),
            can_act={u: (JOIN,) for u in people}, fields=await self._fields(meeting),
            status=meeting.status, deliver_to=[u for u in people if u != meeting.organiser],
            applicant=meeting.organiser, meta={"about": "meeting", "meeting_id": meeting.id})
        return card.id

    async def revised(self, meeting: Meeting) -> None:
        fields = as_fields(await self._fields(meeting))
        if meeting.card_id is not None:
            await self._cards.revise(meeting.card_id,
                                     lambda card: replace(card, fields=fields))

    async def cancelled(self, meeting: Meeting) -> None:
        fields = as_fields([*await self._fields(meeting), ("取消原因", meeting.reason or "")])

        def called_off(card: Card) -> Card | None:
            if card.status == meeting.status:
                return None
            return replace(card, status=meeting.status, can_act={}, fields=fields)

        if meeting.card_id is not None:
            await self._cards.revise(meeting.card_id, called_off)
        await self._cards.create(
            kind="notice", title=f"会议已取消：{meeting.title}", holders=meeting.roll,
            fields=fields, status=meeting.status,
            meta={"about": "meeting", "meeting_id": meeting.id})

    async def _fields(self, meeting: Meeting) -> list[tuple[str, str]]:
        names = await self._directory.names(meeting.roll)
        fields = [("主题", meeting.title), ("时间", self._when(meeting)),
                  ("会议室", meeting.room_name or "线上会议"),
                  ("主持人", "、".join(names.get(h, h) for h in meeting.hosts)),
                  ("议程", agenda_lines(meeting.agenda, names))]
        if meeting.confidential:
            fields.append(("密级", "内部会议，材料会后不可下载"))
        return fields

    def _when(self, meeting: Meeting) -> str:
        if meeting.start is None or meeting.end is None:
            return "即时会议"
        start = datetime.fromisoformat(meeting.start).astimezone(self._tz)
        end = datetime.fromisoformat(meeting.end).astimezone(self._tz)
        return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"
