"""The checked shapes of what a client sends about rooms (PROTOCOL §5, Catalogue). The catalogue
service checks every payload with them, whoever calls it; each refusal names its field, as the
edge's refusals do (`details.fields: [{"field", "problem"}]`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import BadRequest
from rooms.models import (
    DEFAULT_MAX_HOURS,
    DEFAULT_RELEASE_MINUTES,
    DEFAULT_WINDOW_DAYS,
    EQUIPMENT,
    RoomStatus,
)

M = TypeVar("M", bound=BaseModel)

_Checked = ConfigDict(extra="forbid", frozen=True)
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MAX_CAPACITY = 5000
MAX_MANAGERS = 50
MAX_SCOPE_ITEMS = 200
MAX_ATTENDEES = 500
DEFAULT_OPEN_HOURS = {"start": "08:00", "end": "18:00"}

Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Floor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Name64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class OpenHoursForm(BaseModel):
    model_config = _Checked
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)

    @model_validator(mode="after")
    def _end_after_start(self) -> OpenHoursForm:
        if self.end <= self.start:  # zero-padded HH:MM compare as times do
            raise ValueError("end must be after start (HH:MM, same day)")
        return self


class RoomForm(BaseModel):
    """A whole room: the body of a creation, or a room with a PATCH's changes applied."""

    model_config = _Checked
    name: Text100
    building: Text100
    floor: Floor
    capacity: int = Field(strict=True, ge=1, le=MAX_CAPACITY)
    area_m2: float | None = Field(default=None, strict=True, gt=0, le=100_000)
    equipment: list[str] = Field(default_factory=list, max_length=20)
    requires_approval: bool = Field(default=False, strict=True)
    managers: list[Name64] = Field(default_factory=list, max_length=MAX_MANAGERS)
    open_hours: OpenHoursForm = Field(
        default_factory=lambda: OpenHoursForm.model_validate(DEFAULT_OPEN_HOURS))
    dept_id: Name64 | None = None
    window_days: int = Field(default=DEFAULT_WINDOW_DAYS, strict=True, ge=1, le=365)
    max_hours: float = Field(default=DEFAULT_MAX_HOURS, strict=True, ge=0.5, le=24)
    release_minutes: int | None = Field(default=DEFAULT_RELEASE_MINUTES, strict=True, ge=1,
                                        le=120)
    status: RoomStatus = RoomStatus.ACTIVE
    status_reason: Annotated[str, StringConstraints(strip_whitespace=True,
                                                    max_length=200)] | None = None

    @field_validator("equipment")
    @classmethod
    def _known_equipment(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in EQUIPMENT]
        if unknown:
            raise ValueError(f"unknown equipment {', '.join(map(repr, unknown))}; "
                             f"one of {', '.join(EQUIPMENT)}")
        return _distinct(value)

    @field_validator("managers")
    @classmethod
    def _distinct_managers(cls, value: list[str]) -> list[str]:
        return _distinct(value)

    @field_validator("status_reason")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class ScopeForm(BaseModel):
    """`PUT /api/v1/rooms/scopes/{user_id}`: what a room manager may manage."""

    model_config = _Checked
    buildings: list[Text100] = Field(default_factory=list, max_length=MAX_SCOPE_ITEMS)
    dept_ids: list[Name64] = Field(default_factory=list, max_length=MAX_SCOPE_ITEMS)

    @field_validator("buildings", "dept_ids")
    @classmethod
    def _distinct_items(cls, value: list[str]) -> list[str]:
        return _distinct(value)


class BookingForm(BaseModel):
    """`POST /api/v1/bookings`. `headcount` counts people not named (the booker and the named
    attendees are counted anyway); `partial` books the free occurrences of a series instead of
    refusing it when some clash."""

    model_config = _Checked
    room_id: Name64
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=200)]
    start: str = Field(max_length=40)
    end: str = Field(max_length=40)
    attendees: list[Name64] = Field(default_factory=list, max_length=MAX_ATTENDEES)
    headcount: int | None = Field(default=None, strict=True, ge=1, le=MAX_CAPACITY)
    recurrence: dict[str, Any] | None = None
    partial: bool = Field(default=False, strict=True)

    @field_validator("attendees")
    @classmethod
    def _distinct_attendees(cls, value: list[str]) -> list[str]:
        return _distinct(value)


def a_moment(value: str, field: str) -> datetime:
    """An ISO-8601 time that names its zone, in UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise refusal(field, "an ISO-8601 time with its zone") from exc
    if moment.tzinfo is None:
        raise refusal(field, "a time with its zone (…Z or +08:00)")
    return moment.astimezone(UTC)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "payload"


def refusal(field: str, problem: str) -> BadRequest:
    """`bad_request` naming one field, shaped as the edge's validation refusals are."""
    return BadRequest(f"{field}: {problem}", {"fields": [{"field": field, "problem": problem}]})


def parse_form(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise BadRequest("payload must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        fields = [{"field": _field(e["loc"]), "problem": e["msg"]} for e in errors]
        raise BadRequest(f"{fields[0]['field']}: {fields[0]['problem']}",
                         {"fields": fields}) from exc
