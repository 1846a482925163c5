"""The one engine that runs every flow: a flow instance is a card whose rules are these.

At each step the next approver is resolved from the directory as it is then (so a new
department head takes over pending work); a step is skipped when its approver is missing,
is the applicant, or already approved this request (one person holding two posts)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from cards.audit import AuditLog, Verification
from cards.flows.deadlines import Deadlines
from cards.flows.definition import FlowDefinition
from cards.flows.delegation import Delegations
from cards.models import Action, Card
from cards.rules import timeline_entry
from cards.service import CardService
from cards.store import BoxQueries
from core.directory.models import Role
from core.directory.service import DirectoryService
from core.errors import BadRequest, Forbidden, NotFound

BOXES = ("todo", "done", "mine")


def kind_of(flow: str) -> str:
    return f"flow:{flow}"


class FlowEngine:
    def __init__(self, cards: CardService, boxes: BoxQueries, directory: DirectoryService,
                 audit: AuditLog, delegations: Delegations, deadlines: Deadlines,
                 definitions: list[FlowDefinition]) -> None:
        self._cards = cards
        self._deadlines = deadlines
        self._delegations = delegations
        self._audit = audit
        self._boxes = boxes
        self._directory = directory
        self._flows = {d.name: d for d in definitions}
        for definition in definitions:
            cards.register_rules(kind_of(definition.name), self)

    # starting and listing ------------------------------------------------------------------

    async def start(self, applicant: str, flow_name: str, form: dict[str, Any]) -> Card:
        flow = self._flows.get(flow_name)
        if flow is None:
            raise BadRequest(f"flow: one of {', '.join(sorted(self._flows))}")
        clean = flow.parse(form)
        user = await self._directory.get_user(applicant)
        step = await self._next_step(flow, applicant, clean, done=[], approved_by=set())
        if step is not None:
            for person in step.people:
                await self.require_person(person, "form")
        meta = self._entering(step, {"form": clean, "done": []})
        card = await self._cards.create(
            kind=kind_of(flow.name), title=f"{user.name}的{flow.title}",
            holders=[applicant, *(step.people if step else ())], actions=flow.actions,
            can_act=self._open(step), fields=flow.fields(clean), flow=flow.name,
            applicant=applicant, meta=meta,
            status="pending" if step else flow.final_status)
        await self._audit.append(card.id, applicant, "submit", {"flow": flow.name,
                                                                "form": clean})
        await self._schedule(flow, None, card)
        if step is None:
            await self._on_complete(flow, card)
        return card

    async def require_person(self, user_id: str, field: str = "to") -> None:
        found = await self._directory.get_users([user_id])
        if user_id not in found or found[user_id].disabled:
            raise BadRequest(f"{field}: {user_id} is not someone who can act")

    @staticmethod
    def _entering(step: _Resolved | None, meta: dict[str, Any]) -> dict[str, Any]:
        return {**meta, "step": step.name if step else None, "need": step.need if step else 0,
                "votes": {}}

    @staticmethod
    def _open(step: _Resolved | None) -> dict[str, tuple[str, ...]]:
        return {p: step.actions for p in step.people} if step else {}

    async def audit(self, user_id: str, instance_id: str) -> Verification:
        """The instance's audit log, verified; for those who hold its card and for admins."""
        card = await self._cards.stored(instance_id)
        if card is None or card.flow is None:
            raise NotFound(f"no flow instance {instance_id}")
        if user_id not in card.holders and \
                not (await self._directory.get_user(user_id)).has_role(Role.ADMIN):
            raise Forbidden(f"flow instance {instance_id} is not yours")
        return await self._audit.verify(instance_id)

    async def list_box(self, user_id: str, box: str, limit: int = 50) -> dict[str, Any]:
        if box not in BOXES:
            raise BadRequest(f"box: one of {', '.join(BOXES)}")
        cards = await self._boxes.cards_in(box, user_id, limit)
        counts = {name: await self._boxes.count(name, user_id) for name in BOXES}
        items = [{"instance_id": c.id, "card_id": c.id, "flow": c.flow, "title": c.title,
                  "status": c.status, "applicant": c.applicant, "created_at": c.created_at,
                  "card": c.view(user_id)} for c in cards]
        return {"items": items, "counts": counts}

    # the rules of every flow card ----------------------------------------------------------

    async def _next_step(self, flow: FlowDefinition, applicant: str, form: dict[str, Any],
                         done: list[str], approved_by: set[str]) -> _Resolved | None:
        """The first step not done that still has someone to act: its people without the
        missing, the applicant and those who already approved this request."""
        routing = await self._directory.get_routing(applicant)
        clerks = (await self._directory.get_tree()).unit_clerks(routing.dept_id)
        for step in flow.chain(applicant, routing, form, clerks):
            if step.name in done:
                continue
            named = [p for p in step.people if p is not None]
            acting = await self._delegations.substitutes(named)
            people = tuple(dict.fromkeys(
                p for p in (acting.get(n, n) for n in named)
                if p != applicant and p not in approved_by))
            if people:
                return _Resolved(step.name, people, step.actions, min(step.need, len(people)))
        return None

    async def decide(self, card: Card, actor: str, action: Action, inputs: dict[str, Any],
                     at: str) -> Card:
        entry = {**timeline_entry(card, actor, action, inputs, at),
                 "step": card.meta.get("step")}
        timeline = (*card.timeline, entry)
        if action.status == "rejected":
            return replace(card, timeline=timeline, can_act={}, status="rejected")
        votes = {**card.meta.get("votes", {}), actor: action.id}
        if len(votes) < card.meta.get("need", 1):
            # A parallel step still waiting for others: the actor is done with it.
            remaining = {u: a for u, a in card.can_act.items() if u != actor}
            return replace(card, timeline=timeline, can_act=remaining,
                           meta={**card.meta, "votes": votes})
        flow = self._flows[card.flow or ""]
        done = [*card.meta.get("done", []), card.meta.get("step")]
        approved_by = {t["actor_id"] for t in timeline if t["decision"] == "approve"}
        step = await self._next_step(flow, card.applicant or "", card.meta["form"], done,
                                     approved_by)
        meta = self._entering(step, {**card.meta, "done": done})
        if step is None:
            return replace(card, timeline=timeline, can_act={}, meta=meta,
                           status=flow.final_status)
        return replace(card, timeline=timeline, can_act=self._open(step),
                       holders=card.holders | set(step.people), meta=meta)

    async def after_act(self, before: Card, after: Card) -> None:
        for entry in after.timeline[len(before.timeline):]:
            await self._audit.append(after.id, entry["actor_id"], entry["decision"],
                                     {"step": entry["step"], "comment": entry["comment"]})
        for user_id in sorted(after.holders - before.holders):
            await self._cards.deliver(user_id, after)
        flow = self._flows[after.flow or ""]
        await self._schedule(flow, before, after)
        if after.status == flow.final_status and before.status != flow.final_status:
            await self._on_complete(flow, after)

    async def _schedule(self, flow: FlowDefinition, before: Card | None, after: Card) -> None:
        """A new step gets its deadline; a finished flow has none."""
        step = after.meta.get("step")
        if after.status != "pending" or step is None:
            await self._deadlines.clear(after.id)
        elif before is None or before.meta.get("step") != step:
            await self._deadlines.set(after.id, step, sorted(after.can_act), flow.step_hours)

    async def on_deadline(self, entry: dict[str, Any], kind: str) -> None:
        """Remind those who must act; after the deadline tell each one's superior."""
        card = await self._cards.stored(entry["_id"])
        if card is None or card.status != "pending" or card.meta.get("step") != entry["step"]:
            return
        actors = sorted(card.can_act)
        if kind == "remind":
            for actor in actors:
                await self._cards.create(kind="notice", title=f"催办：{card.title}",
                                         holders=[actor], fields=card.fields,
                                         status="reminder", meta={"of": card.id})
            return
        for actor in actors:
            superior = await self._superior(actor)
            if superior is None:
                continue
            user = await self._directory.get_user(actor)
            title = f"逾期：{card.title}（{user.name}未办理）"
            await self._cards.create(kind="notice", title=title,
                                     holders=[superior], fields=card.fields,
                                     status="overdue", meta={"of": card.id, "actor": actor})
            await self._audit.append(card.id, "system", "escalated",
                                     {"actor": actor, "to": superior, "step": entry["step"]})

    async def _superior(self, user_id: str) -> str | None:
        routing = await self._directory.get_routing(user_id)
        for candidate in (routing.department_head, routing.leader_in_charge,
                          routing.unit_head, routing.parent_unit_head):
            if candidate is not None and candidate != user_id:
                return candidate
        return None

    async def _on_complete(self, flow: FlowDefinition, card: Card) -> None:
        """The applicant is told; for flows that want it the unit's hr gets a record card."""
        applicant = card.applicant or ""
        await self._audit.append(card.id, "system", flow.final_status, {})
        routing = await self._directory.get_routing(applicant)
        if flow.record_to_hr and routing.unit_hr:
            await self._cards.create(kind="record", title=f"备案：{card.title}",
                                     holders=[routing.unit_hr], fields=card.fields,
                                     status="recorded", meta={"of": card.id})
        await self._cards.create(kind="notice", title=f"已办结：{card.title}",
                                 holders=[applicant], fields=card.fields,
                                 status=flow.final_status, meta={"of": card.id})


@dataclass(frozen=True)
class _Resolved:
    """A step as it will run: the people who act in it now."""

    name: str
    people: tuple[str, ...]
    actions: tuple[str, ...]
    need: int
