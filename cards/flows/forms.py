"""Form checks the flow definitions share: each refusal names its field."""

from __future__ import annotations

import re
from datetime import date, datetime
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


def zoned_time(value: object, name: str) -> datetime:
    """An ISO-8601 time with its zone; `name` is what a refusal names."""
    if not isinstance(value, str):
        raise BadRequest(f"{name}: an ISO-8601 time with its zone is required")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name}: an ISO-8601 time") from exc
    if moment.tzinfo is None:
        raise BadRequest(f"{name}: a time with its zone (…Z or +08:00)")
    return moment


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


_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
_ID_CARD = re.compile(r"[1-9]\d{16}[\dX]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def a_phone(form: dict[str, Any], name: str) -> str | None:
    """An optional mobile or landline number."""
    value = form.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not (_MOBILE.fullmatch(value.strip()) or
                                          _LANDLINE.fullmatch(value.strip())):
        raise BadRequest(f"form.{name}: a mobile (11 digits) or landline number")
    return value.strip()


def _id_check(number: str) -> str:
    """The check character GB 11643 computes from the first 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS,
                                                     strict=True)) % 11]


def an_id_card(form: dict[str, Any], name: str) -> str | None:
    """An optional mainland resident ID-card number, its check character verified."""
    value = form.get(name)
    if value is None or value == "":
        return None
    number = value.strip().upper() if isinstance(value, str) else ""
    if not _ID_CARD.fullmatch(number) or _id_check(number) != number[-1]:
        raise BadRequest(f"form.{name}: an 18-character ID-card number")
    return number
