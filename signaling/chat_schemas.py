"""Wire payloads of chat (PROTOCOL §3)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from signaling.schemas import Strict

Id = Field(min_length=1, max_length=200)


class ConvCreate(BaseModel):
    model_config = Strict
    type: Literal["direct", "group", "department"]
    members: list[str] = Field(default_factory=list, max_length=5000)
    title: str | None = Field(default=None, max_length=100)
    dept_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _shape(self) -> ConvCreate:
        if self.type == "direct" and len(set(self.members)) != 1:
            raise ValueError("members: a direct conversation names exactly one other person")
        if self.type == "department" and not self.dept_id:
            raise ValueError("dept_id: a department group names its department")
        return self


class ConvRef(BaseModel):
    model_config = Strict
    conv_id: str = Id


class ConvUpdate(BaseModel):
    model_config = Strict
    conv_id: str = Id
    title: str | None = Field(default=None, min_length=1, max_length=100)
    announcement: str | None = Field(default=None, max_length=2000)
    open_history: bool | None = None

    def changes(self) -> dict[str, object]:
        return {name: value for name in ("title", "announcement", "open_history")
                if (value := getattr(self, name)) is not None}


class ConvMembers(BaseModel):
    model_config = Strict
    conv_id: str = Id
    user_ids: list[str] = Field(min_length=1, max_length=2000)


class ConvAdmin(BaseModel):
    model_config = Strict
    conv_id: str = Id
    user_id: str = Id
    admin: bool = True


class ConvTransfer(BaseModel):
    model_config = Strict
    conv_id: str = Id
    user_id: str = Id


class MsgSend(BaseModel):
    model_config = Strict
    conv_id: str = Id
    client_msg_id: str = Field(min_length=1, max_length=100)
    type: Literal["text", "file"] = "text"
    text: str = Field(default="", max_length=100_000)
    mentions: list[str] = Field(default_factory=list, max_length=100)
    file_id: str | None = Field(default=None, max_length=200)
    urgent: bool = False


class MsgHistory(BaseModel):
    model_config = Strict
    conv_id: str = Id
    before_seq: int | None = Field(default=None, ge=1)
    limit: int | None = None


class MsgSync(BaseModel):
    model_config = Strict
    cursors: dict[str, int] = Field(max_length=5000)
    limit: int | None = None


class ChangesSince(BaseModel):
    model_config = Strict
    cursor: str | None = Field(default=None, max_length=100)
    limit: int | None = Field(default=None, ge=1, le=1000)


class MsgRead(BaseModel):
    model_config = Strict
    conv_id: str = Id
    seq: int = Field(ge=0)


class MsgRef(BaseModel):
    model_config = Strict
    msg_id: str = Id


class MsgReaders(BaseModel):
    model_config = Strict
    conv_id: str | None = Field(default=None, max_length=200)
    msg_id: str = Id


class MsgEdit(BaseModel):
    model_config = Strict
    msg_id: str = Id
    text: str = Field(max_length=100_000)


class MsgSearch(BaseModel):
    model_config = Strict
    q: str = Field(min_length=1, max_length=200)
    conv_id: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=20, ge=1, le=100)
