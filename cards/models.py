"""A card as stored, and as one viewer sees it (PROTOCOL §4)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from core.masking import mask
from core.mongo import Document

# Seals a sensitive value for storage, and opens it again.
Seal = Callable[[str], str]


@dataclass(frozen=True)
class Field:
    """A labelled value on a card. A sensitive one ("id_card", "phone") is stored encrypted
    and shown masked (脱敏) to viewers the card does not clear to see it."""

    label: str
    value: str
    sensitive: str | None = None

    def to_wire(self, cleared: bool) -> dict[str, Any]:
        if self.sensitive is None:
            return {"label": self.label, "value": self.value}
        if cleared:
            return {"label": self.label, "value": self.value, "sensitive": self.sensitive}
        return {"label": self.label, "value": mask(self.sensitive, self.value),
                "sensitive": self.sensitive, "masked": True}

    def to_doc(self, seal: Seal) -> Document:
        if self.sensitive is None:
            return {"label": self.label, "value": self.value}
        return {"label": self.label, "sensitive": self.sensitive, "sealed": seal(self.value)}

    @classmethod
    def from_doc(cls, doc: Document, unseal: Seal) -> Field:
        if doc.get("sensitive") is None:
            return cls(doc["label"], doc["value"])
        return cls(doc["label"], unseal(doc["sealed"]), doc["sensitive"])


def as_fields(fields: Iterable[Field | tuple[str, str]]) -> tuple[Field, ...]:
    return tuple(f if isinstance(f, Field) else Field(*f) for f in fields)


@dataclass(frozen=True)
class Input:
    id: str
    type: str  # "comment" | "select" | "date"
    required: bool = False
    options: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"id": self.id, "type": self.type, "required": self.required}
        if self.options:
            wire["options"] = list(self.options)
        return wire


@dataclass(frozen=True)
class Action:
    id: str
    label: str
    style: str | None = None
    inputs: tuple[Input, ...] = ()
    # The card's status once this action decides it ("approved", "rejected", ...).
    status: str | None = None
    # A link the client opens (入会, 查看): nothing is decided, so it is never acted on.
    url: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.style:
            wire["style"] = self.style
        if self.url:
            wire["url"] = self.url
        if self.inputs:
            wire["inputs"] = [i.to_wire() for i in self.inputs]
        return wire

    def to_doc(self) -> Document:
        return {"id": self.id, "label": self.label, "style": self.style, "status": self.status,
                "url": self.url, "inputs": [{"id": i.id, "type": i.type, "required": i.required,
                            "options": list(i.options)} for i in self.inputs]}

    @classmethod
    def from_doc(cls, doc: Document) -> Action:
        return cls(id=doc["id"], label=doc["label"], style=doc.get("style"),
                   status=doc.get("status"), url=doc.get("url"),
                   inputs=tuple(Input(i["id"], i["type"], bool(i.get("required")),
                                      tuple(i.get("options") or ())) for i in doc["inputs"]))


@dataclass(frozen=True)
class Card:
    """`can_act` maps each user who may act now to the actions open to them; `mode` says
    whether the first decision settles the card ("any") or everyone must act ("all")."""

    id: str
    kind: str
    title: str
    status: str
    holders: frozenset[str]
    actions: tuple[Action, ...] = ()
    can_act: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mode: str = "any"
    fields: tuple[Field, ...] = ()
    timeline: tuple[dict[str, Any], ...] = ()
    flow: str | None = None
    created_at: str = ""
    version: int = 1
    applicant: str | None = None
    # What the rules of its kind keep between acts (a flow's form and finished steps).
    meta: dict[str, Any] = field(default_factory=dict)
    # Who may see its sensitive fields unmasked; None: every holder.
    cleared: frozenset[str] | None = None
    # Files on the card ({"id", "name", "size", "content_type"}): its holders may download.
    attachments: tuple[dict[str, Any], ...] = ()
    # Conversations it was shared into: their members see it and its changes too.
    conv_ids: tuple[str, ...] = ()

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.actions if a.id == action_id), None)

    def open_to(self, user_id: str) -> tuple[str, ...]:
        return self.can_act.get(user_id, ())

    def with_holders(self, *user_ids: str) -> Card:
        return replace(self, holders=self.holders | set(user_ids))

    def sees_sensitive(self, viewer: str) -> bool:
        if self.cleared is None:
            return viewer in self.holders
        return viewer in self.cleared

    def to_doc(self, seal: Seal) -> Document:
        return {"_id": self.id, "kind": self.kind, "title": self.title, "status": self.status,
                "holders": sorted(self.holders), "actions": [a.to_doc() for a in self.actions],
                "can_act": {u: list(a) for u, a in self.can_act.items()}, "mode": self.mode,
                "fields": [f.to_doc(seal) for f in self.fields],
                "cleared": None if self.cleared is None else sorted(self.cleared),
                "attachments": list(self.attachments), "conv_ids": list(self.conv_ids),
                "timeline": list(self.timeline), "flow": self.flow,
                "created_at": self.created_at, "version": self.version,
                "applicant": self.applicant, "meta": self.meta,
                # Queryable copies for the to-do and done boxes.
                "pending_ids": sorted(self.can_act),
                "acted_ids": sorted({t["actor_id"] for t in self.timeline})}

    @classmethod
    def from_doc(cls, doc: Document, unseal: Seal) -> Card:
        return cls(id=doc["_id"], kind=doc["kind"], title=doc["title"], status=doc["status"],
                   holders=frozenset(doc.get("holders") or ()),
                   actions=tuple(Action.from_doc(a) for a in doc.get("actions") or ()),
                   can_act={u: tuple(a) for u, a in (doc.get("can_act") or {}).items()},
                   mode=doc.get("mode", "any"),
                   fields=tuple(Field.from_doc(f, unseal) for f in doc.get("fields") or ()),
                   cleared=None if doc.get("cleared") is None else frozenset(doc["cleared"]),
                   attachments=tuple(doc.get("attachments") or ()),
                   conv_ids=tuple(doc.get("conv_ids") or ()),
                   timeline=tuple(doc.get("timeline") or ()), flow=doc.get("flow"),
                   created_at=doc.get("created_at", ""), version=int(doc["version"]),
                   applicant=doc.get("applicant"), meta=dict(doc.get("meta") or {}))

    def view(self, viewer: str) -> dict[str, Any]:
        """The card as `viewer` sees it: the actions open to them now, nothing else."""
        open_now = set(self.open_to(viewer))
        cleared = self.sees_sensitive(viewer)
        return {"card_id": self.id, "version": self.version, "flow": self.flow,
                "title": self.title, "status": self.status,
                "fields": [f.to_wire(cleared) for f in self.fields],
                "attachments": list(self.attachments),
                "timeline": list(self.timeline),
                "actions": [a.to_wire() for a in self.actions if a.id in open_now]}

    def viewer_kinds(self, viewers: frozenset[str] | set[str]) -> list[set[str]]:
        """Viewers grouped by what they see (their open actions, and whether sensitive
        fields are masked for them): one rendering serves each group."""
        groups: dict[tuple[tuple[str, ...], bool], set[str]] = {}
        for viewer in viewers:
            kind = (tuple(sorted(self.open_to(viewer))), self.sees_sensitive(viewer))
            groups.setdefault(kind, set()).add(viewer)
        return list(groups.values())
