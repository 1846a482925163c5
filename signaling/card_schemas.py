"""Wire payloads of cards (PROTOCOL §4)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from signaling.schemas import Strict


class CardRef(BaseModel):
    model_config = Strict
    card_id: str = Field(min_length=1, max_length=200)


class CardAct(BaseModel):
    model_config = Strict
    card_id: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1)
    idempotency_key: str = Field(min_length=1, max_length=200)
    inputs: dict[str, Any] = Field(default_factory=dict, max_length=20)
