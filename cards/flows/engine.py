"""The one engine that runs every flow: a flow instance is a card whose rules are these.

At each step the next approver is resolved from the directory as it is then (so a new
department head takes over pending work); a step is skipped when its approver is missing,
is the applicant, or already approved this request (one person holding two posts)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from cards.audit import AuditLog, Verification
from cards.flows.deadlines import Deadlines
from cards.flows.definition import FlowDefinition
from cards.flows.delegation import Delegations
from cards.flows.follows import FollowLinks
from cards.models import Action, Card
from cards.rules import timeline_entry
from cards.service import CardService
from cards.store import Box, BoxQueries
from core.directory.models import Role
from core.directory.service import DirectoryService
from core.errors import BadRequest, Forbidden, NotFound
from core.masking import mask

log = logging.getLogger(__name__)

Settled = Callable[[Card], Awaitable[None]]


class CardFile(Protocol):
    @property
    def id(self) -> str: ...

    def summary(self) -> dict[str, Any]: ...


class CardFiles(Protocol):
    """Files uploaded for cards (chat's file service)."""

    async def own_card_files(self, user_id: str, file_ids: list[str],
                             field: str) -> Sequence[CardFile]: ...

    async def attach_to_card(self, file_ids: list[str], card_id: str) -> None: ...


def masked(flow: FlowDefinition, form: dict[str, Any]) -> dict[str, Any]:
    """The form as kept outside the card's sealed fields (its meta, the audit log)."""
    kinds = dict(flow.sensitive)
    return {k: mask(kinds[k], v) if k in kinds and isinstance(v, str) else v
            for k, v in form.items()}


def kind_of(flow: str) -> str:
    return f"flow:{flow}"


class FlowEngine:
    def __init__(self, cards: CardService, boxes: BoxQueries, directory: DirectoryService,
                 audit: AuditLog, delegations: Delegations, deadlines: Deadlines,
                 follows: FollowLinks, files: CardFiles,
                 definitions: list[FlowDefinition]) -> None:
        self._cards = cards
        self._files = files
        self._follows = follows
        self._deadlines = deadlines
        self._delegations = delegations
        self._audit = audit
        self._boxes = boxes
        self._directory = directory
        self._flows = {d.name: d for d in definitions}
        self._settled: list[Settled] = []
        for definition in definitions:
            cards.register_rules(kind_of(definition.name), self)

    # starting and listing ------------------------------------------------------------------

    def on_settled(self, callback: Settled) -> None:
        """Call `callback(card)` when an instance ends approved (its final status) or
        rejected, once, on the node whose act ended it."""
        self._settled.append(callback)

    async def start(self, applicant: str, flow_name: str, form: dict[str, Any],
                    context: dict[str, Any] | None = None) -> Card:
        """Start an instance for `applicant`. `context` is what a service starting it on
        someone's behalf adds to the checked form (never a client: `parse` refuses fields it
        does not know)."""
        flow = self._flows.get(flow_name)
        if flow is None:
            raise BadRequest(f"flow: one of {', '.join(sorted(self._flows))}")
        clean = {**flow.parse(form), **(context or {})}
        user = await self._directory.get_user(applicant)
        routing = await self._directory.get_routing(applicant)
        org = await self._directory.get_tree()
        followed = await self._followed(flow, applicant, clean)
        clean = flow.admit(applicant, routing, clean, org, followed)
        step = await self._next_step(flow, applicant, clean, done=[], approved_by=set())
        if step is not None:
            for person in step.people:
                await self.require_person(person, "form")
        files = await self._files.own_card_files(
            applicant, clean.get(flow.attachments) or [], f"form.{flow.attachments}") \
            if flow.attachments else []
        if followed is not None:
            await self._follows.claim(flow.name, followed.id)
        try:
            card = await self._cards.create(
                kind=kind_of(flow.name), title=f"{user.name}的{flow.title}",
                holders=[applicant, *(step.people if step else ())], actions=flow.actions,
                can_act=self._open(step), fields=flow.fields(clean), flow=flow.name,
                applicant=applicant, meta=self._entering(step, {"form": masked(flow, clean),
                                                                "done": []}),
                status="pending" if step else flow.final_status,
                attachments=[f.summary() for f in files])
        except BaseException:
            if followed is not None:
                await self._follows.release(flow.name, followed.id)
            raise
        if followed is not None:
            await self._follows.bind(flow.name, followed.id, card.id)
        if files:
            await self._files.attach_to_card([f.id for f in files], card.id)
        await self._audit.append(card.id, applicant, "submit", {"flow": flow.name,
                                                                "form": masked(flow, clean)})
        await self._schedule(flow, None, card)
        if step is None:
            await self._on_complete(flow, card)
        return card

    async def _followed(self, flow: FlowDefinition, applicant: str,
                        form: dict[str, Any]) -> Card | None:
        """The finished instance of the applicant's that this one follows."""
        if flow.follows is None:
            return None
        followed = await self._cards.stored(str(form.get("of") or ""))
        wanted = self._flows[flow.follows]
        if followed is None or followed.flow != wanted.name or \
                followed.applicant != applicant:
            raise BadRequest(f"form.of: not a {wanted.name} request of yours")
        if followed.status != wanted.final_status:
            raise BadRequest(f"form.of: the {wanted.name} request is {followed.status}, "
                             f"not {wanted.final_status}")
        return followed

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
        if box not in set(Box):
            raise BadRequest(f"box: one of {', '.join(Box)}")
        cards = await self._boxes.cards_in(box, user_id, limit)
        counts = {str(name): await self._boxes.count(name, user_id) for name in Box}
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
        org = await self._directory.get_tree()
        for step in flow.chain(applicant, routing, form, org):
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
        flow = self._flows[card.flow or ""]
        stages = dict(flow.stages)
        if action.id in stages:
            # The actor's next stage of the same step (签收, then 办结): not yet their vote.
            return replace(card, timeline=timeline,
                           can_act={**card.can_act, actor: stages[action.id]})
        votes = {**card.meta.get("votes", {}), actor: action.id}
        if len(votes) < card.meta.get("need", 1):
            # A parallel step still waiting for others: the actor is done with it.
            remaining = {u: a for u, a in card.can_act.items() if u != actor}
            return replace(card, timeline=timeline, can_act=remaining,
                           meta={**card.meta, "votes": votes})
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
        elif after.status == "rejected" and before.status != "rejected":
            await self._tell_settled(after)

    async def _schedule(self, flow: FlowDefinition, before: Card | None, after: Card) -> None:
        """A new step gets its deadline; a finished flow has none."""
        step = after.meta.get("step")
        if after.status != "pending" or step is None:
            await self._deadlines.clear(after.id)
        elif before is None or before.meta.get("step") != step:
            await self._deadlines.set(after.id, step, sorted(after.can_act),
                                      flow.deadline_hours(after.meta["form"]))

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
                                         status="reminder", meta={"of": card.id},
                                         cleared=[actor])
            return
        for actor in actors:
            superior = await self._superior(actor)
            if superior is None:
                continue
            user = await self._directory.get_user(actor)
            title = f"逾期：{card.title}（{user.name}未办理）"
            # The superior is told of the delay, not shown the applicant's numbers.
            await self._cards.create(kind="notice", title=title,
                                     holders=[superior], fields=card.fields,
                                     status="overdue", meta={"of": card.id, "actor": actor},
                                     cleared=[])
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
                                     status="recorded", meta={"of": card.id},
                                     cleared=[routing.unit_hr])
        await self._cards.create(kind="notice", title=f"已办结：{card.title}",
                                 holders=[applicant], fields=card.fields,
                                 status=flow.final_status, meta={"of": card.id},
                                 cleared=[applicant])
        await self._tell_settled(card)

    async def _tell_settled(self, card: Card) -> None:
        for callback in self._settled:
            try:
                await callback(card)
            except Exception:
                log.exception("settled listener failed for card %s", card.id)


@dataclass(frozen=True)
class _Resolved:
    """A step as it will run: the people who act in it now."""

    name: str
    people: tuple[str, ...]
    actions: tuple[str, ...]
    need: int
