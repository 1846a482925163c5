"""Form checks the flow definitions share: each refusal names its field."""

from __future__ import annotations

from datetime import date
from typing import Any

from core.errors import BadRequest


def only_fields(form: dict[str, Any], known: set[str], what: str) -> None:
    for name in form:
        if name not in known:
            raise BadRequest(f"form.{name}: not a field of {what}")


def a_date(form: dict[str, Any], name: str) -> date:
    value = form.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"form.{name}: a date YYYY-MM-DD is required")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"form.{name}: {value!r} is not a date YYYY-MM-DD") from exc


def a_text(form: dict[str, Any], name: str, most: int = 500) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise BadRequest(f"form.{name}: required, at most {most} characters")
    return value.strip()


def a_flag(form: dict[str, Any], name: str) -> bool:
    value = form.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"form.{name}: true or false")
    return value


def inclusive_days(start: date, end: date) -> int:
    if end < start:
        raise BadRequest("form.end: before start")
    return (end - start).days + 1
