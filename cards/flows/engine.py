"""The one engine that runs every flow: a flow instance is a card whose rules are these.

At each step the next approver is resolved from the directory as it is then (so a new
department head takes over pending work); a step is skipped when its approver is missing,
is the applicant, or already approved this request (one person holding two posts)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cards.audit import AuditLog, Verification
from cards.flows.definition import FlowDefinition, Step
from cards.models import Action, Card, Input
from cards.rules import timeline_entry
from cards.service import CardService
from cards.store import BoxQueries
from core.directory.models import Role
from core.directory.service import DirectoryService
from core.errors import BadRequest, Forbidden, NotFound

APPROVE = Action("approve", "同意", style="primary", inputs=(Input("comment", "comment"),))
REJECT = Action("reject", "驳回", style="danger", status="rejected",
                inputs=(Input("comment", "comment", required=True),))
DECISIONS = ("approve", "reject")
BOXES = ("todo", "done", "mine")


def kind_of(flow: str) -> str:
    return f"flow:{flow}"


class FlowEngine:
    def __init__(self, cards: CardService, boxes: BoxQueries, directory: DirectoryService,
                 audit: AuditLog, definitions: list[FlowDefinition]) -> None:
        self._cards = cards
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
        step = await self._next_step(flow, applicant, clean, done=(), approved_by=set())
        meta: dict[str, Any] = {"form": clean, "done": [], "step": step.name if step else None}
        approvers = [step.approver] if step and step.approver else []
        card = await self._cards.create(
            kind=kind_of(flow.name), title=f"{user.name}的{flow.title}",
            holders=[applicant, *approvers], actions=(APPROVE, REJECT),
            can_act={a: DECISIONS for a in approvers}, fields=flow.fields(clean),
            flow=flow.name, applicant=applicant, meta=meta,
            status="pending" if approvers else "approved")
        await self._audit.append(card.id, applicant, "submit", {"flow": flow.name,
                                                                "form": clean})
        if not approvers:
            await self._on_approved(card)
        return card

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
                         done: tuple[str, ...] | list[str], approved_by: set[str]
                         ) -> Step | None:
        routing = await self._directory.get_routing(applicant)
        for step in flow.chain(applicant, routing, form):
            if step.name in done:
                continue
            if step.approver is None or step.approver == applicant or \
                    step.approver in approved_by:
                continue
            return step
        return None

    async def decide(self, card: Card, actor: str, action: Action, inputs: dict[str, Any],
                     at: str) -> Card:
        entry = {**timeline_entry(card, actor, action, inputs, at),
                 "step": card.meta.get("step")}
        timeline = (*card.timeline, entry)
        if action.id == "reject":
            return replace(card, timeline=timeline, can_act={}, status="rejected")
        flow = self._flows[card.flow or ""]
        done = [*card.meta.get("done", []), card.meta.get("step")]
        approved_by = {t["actor_id"] for t in timeline if t["decision"] == "approve"}
        step = await self._next_step(flow, card.applicant or "", card.meta["form"], done,
                                     approved_by)
        meta = {**card.meta, "done": done, "step": step.name if step else None}
        if step is None or step.approver is None:
            return replace(card, timeline=timeline, can_act={}, meta=meta, status="approved")
        return replace(card, timeline=timeline, can_act={step.approver: DECISIONS},
                       holders=card.holders | {step.approver}, meta=meta)

    async def after_act(self, before: Card, after: Card) -> None:
        for entry in after.timeline[len(before.timeline):]:
            await self._audit.append(after.id, entry["actor_id"], entry["decision"],
                                     {"step": entry["step"], "comment": entry["comment"]})
        for user_id in sorted(after.holders - before.holders):
            await self._cards.deliver(user_id, after)
        if after.status == "approved" and before.status != "approved":
            await self._on_approved(after)

    async def _on_approved(self, card: Card) -> None:
        """The unit's hr gets a record card; the applicant is told."""
        applicant = card.applicant or ""
        await self._audit.append(card.id, "system", "approved", {})
        routing = await self._directory.get_routing(applicant)
        if routing.unit_hr:
            await self._cards.create(kind="record", title=f"备案：{card.title}",
                                     holders=[routing.unit_hr], fields=card.fields,
                                     status="recorded", meta={"of": card.id})
        await self._cards.create(kind="notice", title=f"已批准：{card.title}",
                                 holders=[applicant], fields=card.fields, status="approved",
                                 meta={"of": card.id})
