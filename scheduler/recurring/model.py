"""A recurring schedule: what callers send (`RecurringRequest`) and what is stored
(`RecurringDefinition`: the request plus its version, generation and pause state).

The event template is checked by the event's own rules (scheduler.models): a template is
refused exactly as an event with the same fields would be, with the field named
`event.<field>`.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from scheduler.errors import InvalidEvent
from scheduler.models import (
    INT32,
    RESERVED_HEADERS,
    TOPIC_PATTERN,
    JsonInt,
    Limits,
    ScheduleRequest,
    _a_date_time,
    _a_number,
    describe_validation_error,
    parse_request,
    to_event,
)

# Used with fullmatch. No `@`: it separates the parts of an occurrence's schedule_id.
RECURRING_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
RECURRING_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_INTERVAL_SECONDS = 366 * 86400
MAX_JITTER_SECONDS = 86400
MAX_CATCH_UP = 1000


class CatchUp(enum.StrEnum):
    """What happens to occurrences missed while nothing materialised them (a paused
    definition, a stopped worker): `skip` them, fire the `latest` once, or fire `all`
    (the most recent `catch_up_limit`)."""

    SKIP = "skip"
    LATEST = "latest"
    ALL = "all"


JsonFloat = Annotated[float, BeforeValidator(_a_number)]
JsonDateTime = Annotated[AwareDatetime, BeforeValidator(_a_date_time)]
# Five fields of printable ASCII, separated by spaces (the same rule in both languages).
CRON_PATTERN = r"^ *[!-~]+( +[!-~]+){4} *$"
_CRON_RE = re.compile(r" *[!-~]+( +[!-~]+){4} *")


def _template_json_schema(schema: dict[str, Any]) -> None:
    """What the event's rules say where JSON Schema can say it (as ScheduleRequest's)."""
    props = schema["properties"]
    props["topic"].update(pattern=TOPIC_PATTERN, minLength=1, maxLength=249)
    props["headers"]["propertyNames"] = {"not": {"enum": sorted(RESERVED_HEADERS)}}


def _spec_json_schema(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [
        {"required": ["cron"], "properties": {"cron": {"type": "string"}}},
        {"required": ["interval_seconds"], "properties": {"interval_seconds": {"type": "integer"}}},
    ]


class EventTemplate(BaseModel):
    """The event every occurrence publishes (the event's fields, without a time or id)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_template_json_schema)

    topic: str = Field(description="Kafka topic to publish to.", examples=["reports.daily"])
    body: str | dict[str, Any] | list[Any] = Field(
        description="Message value, as for an event.", examples=[{"report": "daily"}]
    )
    entity_type: str = Field("", max_length=255)
    action: str = Field("", max_length=255)
    correlation_id: str | None = Field(None, max_length=255)
    headers: dict[str, str] = Field(default_factory=dict)
    max_delay_seconds: Annotated[int, Field(ge=0, le=INT32), BeforeValidator(_a_number)] | None = (
        None
    )
    priority: JsonInt = Field(0, ge=-INT32, le=INT32)

    def request(self, scheduled_at: datetime, schedule_id: str) -> ScheduleRequest:
        """The event of one occurrence (validated by the event's rules)."""
        data = self.model_dump() | {"scheduled_at": scheduled_at, "schedule_id": schedule_id}
        return parse_request(data)


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, a bad path
        raise ValueError(f"unknown IANA time zone {name!r} (e.g. UTC, Europe/Berlin)") from None
    return name


def _check_cron(expr: str) -> str:
    if _CRON_RE.fullmatch(expr) is None:
        raise ValueError(
            "must be 5 fields (minute hour day-of-month month day-of-week) of printable "
            "ASCII, separated by spaces"
        )
    try:
        CronSim(expr, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"not a valid cron expression: {exc}") from None
    except Exception as exc:  # whatever else the parser trips on is a bad expression too
        raise ValueError(f"not a valid cron expression ({type(exc).__name__})") from None
    return " ".join(expr.split())


class RecurringSpec(BaseModel):
    """A recurring schedule without its id (the body of PUT /api/v1/recurring/{id}):
    exactly one of `cron` or `interval_seconds`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_spec_json_schema)

    cron: str | None = Field(
        None,
        description="5-field cron expression, in `timezone`. Exactly one of this or "
        "interval_seconds.",
        examples=["0 9 * * 1-5"],
        max_length=255,
        pattern=CRON_PATTERN,
    )
    interval_seconds: (
        Annotated[int, Field(ge=1, le=MAX_INTERVAL_SECONDS), BeforeValidator(_a_number)] | None
    ) = Field(
        None,
        validate_default=True,
        description="Every this many seconds from start_at (else from creation).",
    )
    timezone: str = Field("UTC", description="IANA time zone of the cron expression.")
    start_at: JsonDateTime | None = Field(None, description="No occurrence before this.")
    end_at: JsonDateTime | None = Field(None, description="No occurrence after this.")
    jitter_seconds: Annotated[
        float, Field(ge=0, le=MAX_JITTER_SECONDS, allow_inf_nan=False), BeforeValidator(_a_number)
    ] = Field(0, description="Each occurrence fires up to this much later (fixed per occurrence).")
    catch_up: CatchUp = Field(CatchUp.SKIP, description="Missed occurrences: skip, latest, all.")
    catch_up_limit: JsonInt = Field(
        10, ge=1, le=MAX_CATCH_UP, description="With catch_up=all: fire at most this many."
    )
    event: EventTemplate

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return None if v is None else _check_cron(v)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return _check_zone(v)

    @field_validator("interval_seconds")
    @classmethod
    def _one_rule(cls, v: int | None, info: ValidationInfo) -> int | None:
        if "cron" in info.data and (info.data["cron"] is None) == (v is None):
            raise ValueError("give exactly one of cron or interval_seconds")
        return v

    @field_validator("end_at")
    @classmethod
    def _after_start(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start_at")
        if v is not None and start is not None and v <= start:
            raise ValueError("must be after start_at")
        return v


class RecurringRequest(RecurringSpec):
    """A recurring schedule, as callers send it."""

    recurring_id: str = Field(
        description="The definition's id: 1-64 of letters, digits and . _ : - (no @).",
        examples=["daily-report"],
        pattern=RECURRING_ID_PATTERN,
        min_length=1,
        max_length=64,
    )

    @field_validator("recurring_id")
    @classmethod
    def _id(cls, v: str) -> str:
        if RECURRING_ID_RE.fullmatch(v) is None:
            raise ValueError("must be 1-64 characters of letters, digits and . _ : -")
        return v


class RecurringDefinition(RecurringRequest):
    """A stored recurring schedule."""

    version: int = Field(description="Bumped on every change (compare-and-set).")
    generation: int = Field(
        description="Part of each occurrence's schedule_id; bumped whenever the pending "
        "occurrences are replaced (update, pause, resume)."
    )
    paused: bool = False
    paused_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    def spec(self) -> RecurringRequest:
        """What the caller defined (without the state)."""
        return RecurringRequest.model_validate(
            self.model_dump(include=set(RecurringRequest.model_fields))
        )


def parse_recurring(data: dict[str, Any] | bytes | str) -> RecurringRequest:
    """Validate a definition from a dict or JSON; InvalidEvent names the first failing
    field (the template's as `event.<field>`)."""
    try:
        if isinstance(data, dict):
            return RecurringRequest.model_validate(data)
        return RecurringRequest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        raise InvalidEvent(
            describe_validation_error(exc), field=".".join(str(p) for p in first[:2]) or None
        ) from None


def check_template(req: RecurringRequest, limits: Limits) -> None:
    """Refuse a template exactly as the event would be refused (field `event.<name>`)."""
    probe = f"{req.recurring_id}@0@0"
    try:
        event = req.event.request(datetime.fromtimestamp(0).astimezone(), probe)
        to_event(event, limits, now=0.0)
    except InvalidEvent as exc:
        field = f"event.{exc.field}" if exc.field else "event"
        raise InvalidEvent(f"event: {exc}", field=field) from None
