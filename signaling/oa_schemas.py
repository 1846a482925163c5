"""Wire payloads of the OA integration (PROTOCOL §4, OA integration). The load generator and
external applications' tests import them."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from signaling.schemas import Strict

_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
MAX_RECIPIENTS = 5000


class AppRegistration(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    callback_url: str = Field(min_length=1, max_length=2000)

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL with a host")
        return value


class CardFieldIn(BaseModel):
    model_config = Strict
    label: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=2000)


class CardInputIn(BaseModel):
    model_config = Strict
    id: str = Field(min_length=1, max_length=50, pattern=_ID_PATTERN)
    type: Literal["comment", "select", "date"]
    required: bool = False
    options: list[str] | None = Field(default=None, min_length=1, max_length=50)

    @field_validator("options")
    @classmethod
    def _option_texts(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not 1 <= len(o) <= 100 for o in value):
            raise ValueError("each option is 1-100 characters")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("options must be distinct")
        return value

    @model_validator(mode="after")
    def _options_for_select(self) -> CardInputIn:
        if (self.type == "select") != (self.options is not None):
            raise ValueError("options: a select input needs them, other inputs take none")
        return self


class CardActionIn(BaseModel):
    model_config = Strict
    id: str = Field(min_length=1, max_length=50, pattern=_ID_PATTERN)
    label: str = Field(min_length=1, max_length=50)
    style: Literal["primary", "danger", "default"] | None = None
    inputs: list[CardInputIn] = Field(default_factory=list, max_length=10)

    @field_validator("inputs")
    @classmethod
    def _distinct_inputs(cls, value: list[CardInputIn]) -> list[CardInputIn]:
        if len({i.id for i in value}) != len(value):
            raise ValueError("input ids must be distinct")
        return value


class AppCardRequest(BaseModel):
    """`POST /api/v1/cards`, signed by a registered application."""

    model_config = Strict
    to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    title: str = Field(min_length=1, max_length=200)
    fields: list[CardFieldIn] = Field(default_factory=list, max_length=50)
    actions: list[CardActionIn] = Field(default_factory=list, max_length=5)
    mode: Literal["any", "all"] = "any"
    actors: list[str] | None = Field(default=None, max_length=MAX_RECIPIENTS)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("to")
    @classmethod
    def _distinct_people(cls, value: list[str]) -> list[str]:
        if any(not 1 <= len(u) <= 200 for u in value):
            raise ValueError("user ids are 1-200 characters")
        if len(set(value)) != len(value):
            raise ValueError("user ids must be distinct")
        return value

    @field_validator("actions")
    @classmethod
    def _distinct_actions(cls, value: list[CardActionIn]) -> list[CardActionIn]:
        if len({a.id for a in value}) != len(value):
            raise ValueError("action ids must be distinct")
        return value

    @field_validator("actors")
    @classmethod
    def _actors_among_recipients(cls, value: list[str] | None,
                                 info: ValidationInfo) -> list[str] | None:
        if value is None or "to" not in info.data:
            return value  # a bad `to` is reported on its own
        if len(set(value)) != len(value):
            raise ValueError("user ids must be distinct")
        outside = sorted(set(value) - set(info.data.get("to") or ()))
        if outside:
            raise ValueError(f"not among `to`: {', '.join(outside[:10])}")
        return value
