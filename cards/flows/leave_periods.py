"""Who is away on approved leave on a given day, read from the leave flow's records (its
cards), for services that need to know (a meeting's attendance).

An approved leave covers its dates `start`..`end` inclusive, local dates in `ORG_TZ`; a half
day covers its whole date, since the form does not say which half. Once the applicant reports
back (销假, pending or recorded: hr only records the days, it cannot refuse the report), the
leave ends at the reported `actual_end` if that is earlier."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from cards.flows.leave import LeaveFlow
from cards.flows.leave_return import LeaveReturnFlow
from cards.models import Card


class FlowInstances(Protocol):
    async def instances_of(self, applicant: str, flow: str,
                           status: str | None = None) -> list[Card]: ...


@dataclass(frozen=True)
class LeavePeriod:
    instance_id: str
    start: date
    end: date

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    def cut_at(self, actual_end: date | None) -> LeavePeriod:
        """The period once its applicant reported back on `actual_end` (a later day is
        overstayed, not approved)."""
        if actual_end is None or actual_end >= self.end:
            return self
        return replace(self, end=actual_end)

    @classmethod
    def of(cls, card: Card) -> LeavePeriod:
        form = card.meta["form"]
        return cls(card.id, date.fromisoformat(form["start"]), date.fromisoformat(form["end"]))


class LeaveCalendar:
    def __init__(self, instances: FlowInstances) -> None:
        self._instances = instances

    async def on_leave(self, user_id: str, day: date) -> bool:
        approved = await self._instances.instances_of(user_id, LeaveFlow.name,
                                                      LeaveFlow.final_status)
        covering = [p for p in map(LeavePeriod.of, approved) if p.covers(day)]
        if not covering:
            return False  # the usual answer, found without asking about reports back
        reported = await self._reported_ends(user_id)
        return any(p.cut_at(reported.get(p.instance_id)).covers(day) for p in covering)

    async def _reported_ends(self, user_id: str) -> dict[str, date]:
        """The actual end of each leave its applicant reported back from, by leave id."""
        returns = await self._instances.instances_of(user_id, LeaveReturnFlow.name)
        return {r.meta["form"]["of"]: date.fromisoformat(r.meta["form"]["actual_end"])
                for r in returns}
