"""Wire payloads of cards (PROTOCOL §4)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cards.store import Box
from signaling.schemas import Strict


class CardRef(BaseModel):
    model_config = Strict
    card_id: str = Field(min_length=1, max_length=200)


class FlowStart(BaseModel):
    model_config = Strict
    flow: str = Field(min_length=1, max_length=50)
    form: dict[str, Any] = Field(max_length=50)


class FlowList(BaseModel):
    model_config = Strict
    box: Box
    limit: int = Field(default=50, ge=1, le=200)


class Delegate(BaseModel):
    model_config = Strict
    to: str | None = Field(max_length=200)
    until: str | None = Field(default=None, max_length=40)


class CardAct(BaseModel):
    model_config = Strict
    card_id: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1)
    idempotency_key: str = Field(min_length=1, max_length=200)
    inputs: dict[str, Any] = Field(default_factory=dict, max_length=20)


class CardShare(BaseModel):
    model_config = Strict
    card_id: str = Field(min_length=1, max_length=200)
    conv_id: str = Field(min_length=1, max_length=200)
