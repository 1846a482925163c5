"""The minutes' sign-off by cards: a `circulation` (公文流转) that every host signs (会签; the
host who sends it signs by sending), and once signed a notice with the minutes to everyone on
the roll."""

from __future__ import annotations

from cards.flows.engine import FlowEngine
from cards.service import CardService
from meetings.records import Meeting

FLOW = "circulation"


class CardSignoff:
    def __init__(self, engine: FlowEngine, cards: CardService) -> None:
        self._engine = engine
        self._cards = cards

    async def start(self, host: str, meeting: Meeting, title: str, content: str) -> str:
        card = await self._engine.start(
            host, FLOW, {"title": title[:200], "content": content, "to": list(meeting.hosts),
                         "rule": "all"},
            context={"minutes_of": meeting.id})
        return card.id

    async def signed(self, meeting: Meeting, title: str, content: str) -> None:
        await self._cards.create(kind="notice", title=f"{title}（已签发）",
                                 holders=meeting.roll, fields=[("纪要", content)],
                                 status="signed",
                                 meta={"about": "meeting_minutes", "meeting_id": meeting.id})
