"""Conversations, memberships and messages as the services see them, and their wire shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.mongo import Document

SYSTEM_SENDER = "system"


class ConvType(StrEnum):
    DIRECT = "direct"
    GROUP = "group"
    DEPARTMENT = "department"
    NOTIFICATIONS = "notifications"


MANAGED_TYPES = (ConvType.GROUP, ConvType.DEPARTMENT)


@dataclass(frozen=True)
class Conversation:
    id: str
    type: ConvType
    title: str | None
    members: frozenset[str]
    owner_id: str | None = None
    admins: frozenset[str] = frozenset()
    announcement: str | None = None
    open_history: bool = False
    dept_id: str | None = None
    created_by: str | None = None
    created_at: str = ""
    dissolved: bool = False
    version: int = 0

    def is_manager(self, user_id: str) -> bool:
        return user_id == self.owner_id or user_id in self.admins

    @classmethod
    def from_doc(cls, doc: Document) -> Conversation:
        return cls(id=doc["_id"], type=ConvType(doc["type"]), title=doc.get("title"),
                   members=frozenset(doc.get("members") or ()), owner_id=doc.get("owner_id"),
                   admins=frozenset(doc.get("admins") or ()),
                   announcement=doc.get("announcement"),
                   open_history=bool(doc.get("open_history")), dept_id=doc.get("dept_id"),
                   created_by=doc.get("created_by"), created_at=doc.get("created_at", ""),
                   dissolved=bool(doc.get("dissolved")), version=int(doc.get("version", 0)))

    def to_doc(self) -> Document:
        return {"_id": self.id, "type": str(self.type), "title": self.title,
                "members": sorted(self.members), "member_count": len(self.members),
                "owner_id": self.owner_id, "admins": sorted(self.admins),
                "announcement": self.announcement, "open_history": self.open_history,
                "dept_id": self.dept_id, "created_by": self.created_by,
                "created_at": self.created_at, "dissolved": self.dissolved,
                "version": self.version}

    def to_wire(self) -> dict[str, Any]:
        doc = self.to_doc()
        doc["id"] = doc.pop("_id")
        return doc


@dataclass(frozen=True)
class Membership:
    """One user's standing in one conversation. `joined_seq`: the last message before they
    joined (they see later ones unless the group opens its history); `read_seq` only grows."""

    conv_id: str
    user_id: str
    active: bool
    joined_seq: int
    read_seq: int

    @classmethod
    def from_doc(cls, doc: Document) -> Membership:
        return cls(doc["conv_id"], doc["user_id"], bool(doc["active"]),
                   int(doc.get("joined_seq", 0)), int(doc.get("read_seq", 0)))

    def visible_after(self, conversation: Conversation) -> int:
        return 0 if conversation.open_history else self.joined_seq


def membership_id(conv_id: str, user_id: str) -> str:
    return f"{conv_id}|{user_id}"


@dataclass
class Message:
    id: str
    conv_id: str
    seq: int
    sender_id: str
    type: str
    ts: str
    text: str = ""
    client_msg_id: str | None = None
    mentions: list[str] = field(default_factory=list)
    mention_users: list[str] = field(default_factory=list)
    mention_all: bool = False
    file: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    urgent: bool = False
    recalled: bool = False
    recalled_by: str | None = None
    recalled_at: str | None = None
    edited_at: str | None = None

    @classmethod
    def from_doc(cls, doc: Document) -> Message:
        return cls(id=doc["_id"], conv_id=doc["conv_id"], seq=int(doc["seq"]),
                   sender_id=doc["sender_id"], type=doc["type"], ts=doc["ts"],
                   text=doc.get("text") or "", client_msg_id=doc.get("client_msg_id"),
                   mentions=list(doc.get("mentions") or ()),
                   mention_users=list(doc.get("mention_users") or ()),
                   mention_all=bool(doc.get("mention_all")), file=doc.get("file"),
                   card=doc.get("card"), event=doc.get("event"), urgent=bool(doc.get("urgent")),
                   recalled=bool(doc.get("recalled")), recalled_by=doc.get("recalled_by"),
                   recalled_at=doc.get("recalled_at"), edited_at=doc.get("edited_at"))

    def to_doc(self, terms: list[str]) -> Document:
        return {"_id": self.id, "conv_id": self.conv_id, "seq": self.seq,
                "sender_id": self.sender_id, "type": self.type, "ts": self.ts,
                "text": self.text, "client_msg_id": self.client_msg_id,
                "mentions": self.mentions, "mention_users": self.mention_users,
                "mention_all": self.mention_all, "file": self.file, "card": self.card,
                "event": self.event, "urgent": self.urgent, "recalled": False,
                "recalled_by": None, "recalled_at": None, "edited_at": None, "terms": terms}

    def mentions_user(self, user_id: str) -> bool:
        return user_id != self.sender_id and (self.mention_all or user_id in self.mention_users)

    def to_wire(self, viewer: str | None = None) -> dict[str, Any]:
        """The message as `viewer` sees it; a recalled message keeps only who and when."""
        wire: dict[str, Any] = {"id": self.id, "conv_id": self.conv_id, "seq": self.seq,
                                "sender_id": self.sender_id, "type": self.type, "ts": self.ts,
                                "client_msg_id": self.client_msg_id, "urgent": self.urgent,
                                "recalled": self.recalled}
        if self.recalled:
            wire.update(text="", recalled_by=self.recalled_by, recalled_at=self.recalled_at)
            return wire
        wire.update(text=self.text, mentions=self.mentions, edited_at=self.edited_at)
        for name in ("file", "card", "event"):
            value = getattr(self, name)
            if value is not None:
                wire[name] = value
        if viewer is not None:
            wire["mention"] = self.mentions_user(viewer)
        return wire

    def preview(self) -> dict[str, Any]:
        text = "" if self.recalled else (self.text or (self.file or {}).get("name", ""))
        return {"id": self.id, "seq": self.seq, "sender_id": self.sender_id, "type": self.type,
                "ts": self.ts, "text": text[:100], "recalled": self.recalled}
