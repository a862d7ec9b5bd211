"""The event: what callers send (`ScheduleRequest`) and what the tiers store (`Event`).

One validation path serves the Python API, the HTTP API and the Kafka envelope, so a
bad event gets the same clear message whichever way it came in.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
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
from scheduler.settings import Settings

# Used with fullmatch: `$` would also match before a final newline.
TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")
SCHEDULE_ID_RE = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
# The same rules as JSON Schema patterns (ECMA-262: `$` is the end of the string only).
TOPIC_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9._-]{1,249}$"
SCHEDULE_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
INT32 = 2**31 - 1
# Header names the executor sets on every published event; callers may not set them.
RESERVED_HEADERS = frozenset(
    {"schedule_id", "correlation_id", "entity_type", "action", "scheduled_at", "attempt"}
)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# A ULID is 26 base-32 digits (130 bits: two zero bits, 48 bits of milliseconds, 80
# random bits). The random part is 16 random bytes mapped to digits in C (256 values
# spread evenly over 32 digits, so each digit is uniform); the time part changes once a
# millisecond. (base64.b32encode is pure Python in 3.11 and took 3 of the 4 µs an id cost.)
_DIGIT_OF_BYTE = bytes(_CROCKFORD[b & 31].encode()[0] for b in range(256))
_millis_digits: tuple[int, str] = (-1, "")


def _time_digits(ms: int) -> str:
    return "".join(_CROCKFORD[ms >> shift & 31] for shift in range(45, -1, -5))


def new_schedule_id() -> str:
    """A 26-character ULID: sortable by creation time, short enough to keep Redis lean."""
    global _millis_digits
    ms = time.time_ns() // 1_000_000
    cached, digits = _millis_digits
    if ms != cached:
        digits = _time_digits(ms)
        _millis_digits = (ms, digits)  # one tuple: a thread never sees half of it
    return digits + os.urandom(16).translate(_DIGIT_OF_BYTE).decode()


# Names found legal: a service sends to few topics, and a set lookup is a fifth of the
# regular expression's time. Bounded: emptied when full.
_LEGAL_TOPICS: set[str] = set()


def is_legal_topic(name: str) -> bool:
    if name in _LEGAL_TOPICS:
        return True
    if TOPIC_RE.fullmatch(name) is None or name in {".", ".."}:
        return False
    if len(_LEGAL_TOPICS) >= 1024:
        _LEGAL_TOPICS.clear()
    _LEGAL_TOPICS.add(name)
    return True


def _utf8(value: str) -> str:
    """`value`, if it can be sent as UTF-8 (no lone surrogates), else ValueError."""
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains a lone surrogate ({value[exc.start]!r} at {exc.start}): "
            "not valid Unicode, so it cannot be sent as UTF-8"
        ) from None
    return value


def _a_number(value: object) -> object:
    """Numbers are JSON numbers: pydantic's lax mode would also take true/false and
    numeric strings, which the schema (and so every client generator) says are invalid.
    An integral float (5.0) still counts as an integer, as JSON Schema counts it."""
    if isinstance(value, bool | str | bytes):
        raise ValueError(f"must be a number, not {type(value).__name__}")
    return value


def _a_date_time(value: object) -> object:
    """A date-time is ISO 8601 text (or a datetime from Python): pydantic would also read
    a number, or a string of digits, as Unix seconds, which the schema says is invalid."""
    if isinstance(value, bool | int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("must be an ISO 8601 date-time with a timezone, not a number")
    return value


JsonInt = Annotated[int, BeforeValidator(_a_number)]


@dataclass(frozen=True, slots=True)
class Limits:
    """What an event may carry (no defaults here: build it with from_settings)."""

    max_body_bytes: int
    max_headers: int
    max_header_bytes: int
    default_max_delay_seconds: int

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            max_body_bytes=s.max_body_bytes,
            max_headers=s.max_headers,
            max_header_bytes=s.max_header_bytes,
            default_max_delay_seconds=s.default_max_delay_seconds,
        )


def _request_json_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of ScheduleRequest (and so /openapi.json) says what the validators
    below enforce where JSON Schema can say it: exactly one of scheduled_at or
    delay_seconds, the topic and schedule_id patterns, the reserved header names.
    Schema generation only; validation is the validators' (ECMA-262 patterns: `$` is the
    end of the string, as `fullmatch` is)."""
    props = schema["properties"]
    props["topic"].update(pattern=TOPIC_PATTERN, minLength=1, maxLength=249)
    for branch in props["schedule_id"]["anyOf"]:
        if branch.get("type") == "string":
            branch.update(pattern=SCHEDULE_ID_PATTERN, minLength=1, maxLength=128)
    props["headers"]["propertyNames"] = {"not": {"enum": sorted(RESERVED_HEADERS)}}
    _one_time_schema(schema)


def _one_time_schema(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [
        {"required": ["scheduled_at"], "properties": {"scheduled_at": {"type": "string"}}},
        {"required": ["delay_seconds"], "properties": {"delay_seconds": {"type": "number"}}},
    ]


def _reschedule_json_schema(schema: dict[str, Any]) -> None:
    """RescheduleRequest's schema: the same rules as ScheduleRequest's for its fields."""
    for branch in schema["properties"]["headers"]["anyOf"]:
        if branch.get("type") == "object":
            branch["propertyNames"] = {"not": {"enum": sorted(RESERVED_HEADERS)}}
    _one_time_schema(schema)


class OnConflict(enum.StrEnum):
    """What scheduling a schedule_id that is already pending does."""

    KEEP = "keep"  # the existing event stays; the answer says nothing was added
    REPLACE = "replace"  # the pending event becomes this one (debounce)


def _check_one_time(v: float | None, info: ValidationInfo) -> float | None:
    # A field validator (not a model one) so that the error names a field: it runs
    # for the default too (validate_default) and after scheduled_at (field order).
    if "scheduled_at" in info.data and (info.data["scheduled_at"] is None) == (v is None):
        raise ValueError("give exactly one of scheduled_at or delay_seconds")
    return v


def _check_headers(v: dict[str, str]) -> dict[str, str]:
    for name, value in v.items():
        if not (name.isascii() and value.isascii()):
            try:
                _utf8(name)
                _utf8(value)
            except ValueError as exc:
                raise ValueError(f"header {name.encode(errors='replace')!r}: {exc}") from None
    return v


ScheduledAt = Annotated[AwareDatetime, BeforeValidator(_a_date_time)]
# Constraints before the validator in the Annotated type, so the schema of the
# optional field states them in JSON Schema's words (`minimum`), not pydantic's.
DelaySeconds = Annotated[float, Field(ge=0, allow_inf_nan=False), BeforeValidator(_a_number)]
Body = str | dict[str, Any] | list[Any]


class ScheduleRequest(BaseModel):
    """An event to publish later, as callers send it."""

    model_config = ConfigDict(
        extra="forbid", str_max_length=None, json_schema_extra=_request_json_schema
    )

    topic: str = Field(description="Kafka topic to publish to.", examples=["user.notifications"])
    body: str | dict[str, Any] | list[Any] = Field(
        description="Message value. A string is sent as its UTF-8 bytes; JSON is serialised.",
        examples=['{"user_id": 123}'],
    )
    entity_type: str = Field("", max_length=255, examples=["user"])
    action: str = Field("", max_length=255, examples=["send_reminder"])
    scheduled_at: ScheduledAt | None = Field(
        None, description="When to publish (timezone-aware). Exactly one of this or delay."
    )
    delay_seconds: DelaySeconds | None = Field(
        None,
        validate_default=True,
        description="Publish this many seconds from now. Exactly one of this or scheduled_at.",
    )
    schedule_id: str | None = Field(
        None, description="Idempotency key; generated when absent.", examples=["reminder-123"]
    )
    correlation_id: str | None = Field(None, max_length=255, examples=["reminder-123"])
    headers: dict[str, str] = Field(default_factory=dict, examples=[{"priority": "high"}])
    max_delay_seconds: Annotated[int, Field(ge=0, le=INT32), BeforeValidator(_a_number)] | None = (
        Field(None, description="Skip (do not publish) if this late. Default 86400.")
    )
    priority: JsonInt = Field(
        0, ge=-INT32, le=INT32, description="Higher fires first in a backlog."
    )
    on_conflict: OnConflict = Field(
        OnConflict.KEEP,
        description="When the schedule_id is already pending: `keep` the existing event "
        "(nothing is added), or `replace` it with this one (debounce; 409 over HTTP if it "
        "is in flight). A finished or unknown schedule_id is scheduled anew either way.",
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if not is_legal_topic(v):
            raise ValueError(
                "must be 1-249 characters of letters, digits, '.', '_' or '-' "
                "(a legal Kafka topic name)"
            )
        return v

    @field_validator("schedule_id")
    @classmethod
    def _schedule_id(cls, v: str | None) -> str | None:
        if v is not None and SCHEDULE_ID_RE.fullmatch(v) is None:
            raise ValueError("must be 1-128 characters of letters, digits and . _ : @ -")
        return v

    @field_validator("entity_type", "action", "correlation_id")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return v if v is None or v.isascii() else _utf8(v)

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_headers(v)

    @field_validator("delay_seconds")
    @classmethod
    def _one_time(cls, v: float | None, info: ValidationInfo) -> float | None:
        return _check_one_time(v, info)


class RescheduleRequest(BaseModel):
    """A new time (and optionally body, headers, priority) for a pending event: the
    fields and rules of ScheduleRequest; what is not given stays as it was."""

    model_config = ConfigDict(
        extra="forbid", str_max_length=None, json_schema_extra=_reschedule_json_schema
    )

    scheduled_at: ScheduledAt | None = Field(
        None, description="The new time (timezone-aware). Exactly one of this or delay."
    )
    delay_seconds: DelaySeconds | None = Field(
        None,
        validate_default=True,
        description="The new time, this many seconds from now. Exactly one of this or "
        "scheduled_at.",
    )
    body: Body | None = Field(None, description="A new message value (as ScheduleRequest's).")
    headers: dict[str, str] | None = Field(
        None, description="New Kafka headers: replace the old ones entirely."
    )
    priority: Annotated[int, Field(ge=-INT32, le=INT32), BeforeValidator(_a_number)] | None = Field(
        None, description="A new priority."
    )

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return None if v is None else _check_headers(v)

    @field_validator("delay_seconds")
    @classmethod
    def _one_time(cls, v: float | None, info: ValidationInfo) -> float | None:
        return _check_one_time(v, info)


_ORJSON_REFUSALS = (
    ("64-bit", "has an integer beyond 64 bits, which JSON consumers cannot read exactly"),
    ("Recursion", "is nested deeper than 254 levels"),
    ("surrogates", "contains a lone surrogate: not valid Unicode, so not valid JSON text"),
)


def body_bytes(body: str | dict[str, Any] | list[Any]) -> bytes:
    """The bytes to publish; InvalidEvent (field `body`) if they cannot say exactly what
    was given: numbers JSON cannot carry (NaN, Infinity, beyond 64 bits), lone
    surrogates, nesting deeper than the encoder goes."""
    if isinstance(body, str):
        try:
            return body.encode()
        except UnicodeEncodeError:
            raise InvalidEvent(f"body {_ORJSON_REFUSALS[2][1]}", field="body") from None
    try:
        data = orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        reason = next((why for key, why in _ORJSON_REFUSALS if key in str(exc)), str(exc))
        raise InvalidEvent(f"body {reason}", field="body") from None
    # orjson writes NaN and Infinity as null: only then look for them.
    if b"null" in data and not _finite(body):
        raise InvalidEvent("body has NaN or Infinity, which JSON cannot carry", field="body")
    return data


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


@dataclass(slots=True)
class Event:
    """A validated event, as stored. Times are Unix seconds (floats keep microseconds)."""

    schedule_id: str
    topic: str
    body: bytes
    scheduled_at: float
    entity_type: str = ""
    action: str = ""
    correlation_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    max_delay_seconds: int = 86400
    priority: int = 0
    created_at: float = 0.0

    @property
    def scheduled_at_datetime(self) -> datetime:
        """To the microsecond, as stored (scheduler/codec.py), so every answer agrees."""
        return utc_datetime(self.scheduled_at)


def utc_datetime(at: float) -> datetime:
    """Unix seconds as the UTC datetime every answer gives: to the microsecond, as stored."""
    return datetime.fromtimestamp(round(at * 1_000_000) / 1_000_000, UTC)


def check_limits(headers: dict[str, str], body: bytes, limits: Limits) -> None:
    if len(body) > limits.max_body_bytes:
        raise InvalidEvent(
            f"body is {len(body)} bytes; the limit is {limits.max_body_bytes}", field="body"
        )
    if not headers:
        return
    if len(headers) > limits.max_headers:
        raise InvalidEvent(
            f"{len(headers)} headers; the limit is {limits.max_headers}", field="headers"
        )
    size = 0
    for k, v in headers.items():
        size += len(k) + len(v) if k.isascii() and v.isascii() else len(k.encode() + v.encode())
    if size > limits.max_header_bytes:
        raise InvalidEvent(
            f"headers total {size} bytes; the limit is {limits.max_header_bytes}", field="headers"
        )
    if not RESERVED_HEADERS.isdisjoint(headers):
        reserved = sorted(RESERVED_HEADERS.intersection(headers))
        raise InvalidEvent(
            f"header names {reserved} are reserved: the scheduler sets them on every event",
            field="headers",
        )


def to_event(req: ScheduleRequest, limits: Limits, now: float, base: float | None = None) -> Event:
    """Resolve a request into an Event. `base` is what delay_seconds counts from."""
    body = body_bytes(req.body)
    check_limits(req.headers, body, limits)
    at = scheduled_time(req.scheduled_at, req.delay_seconds, now if base is None else base)
    return Event(
        schedule_id=req.schedule_id or new_schedule_id(),
        topic=req.topic,
        body=body,
        scheduled_at=at,
        entity_type=req.entity_type,
        action=req.action,
        correlation_id=req.correlation_id,
        headers=dict(req.headers),
        max_delay_seconds=(
            limits.default_max_delay_seconds
            if req.max_delay_seconds is None
            else req.max_delay_seconds
        ),
        priority=req.priority,
        created_at=now,
    )


def scheduled_time(
    scheduled_at: datetime | None, delay_seconds: float | None, base: float
) -> float:
    if scheduled_at is not None:
        at = scheduled_at.timestamp()
    else:
        assert delay_seconds is not None
        at = base + delay_seconds
    if not math.isfinite(at) or at > 253402300799:  # 9999-12-31, ClickHouse's DateTime64 max
        raise InvalidEvent("scheduled time is out of range", field="scheduled_at")
    return at


def rescheduled_event(req: RescheduleRequest, current: Event, limits: Limits, now: float) -> Event:
    """`current` changed as `req` asks (delay_seconds counts from `now`); InvalidEvent
    names the field, as for a new event."""
    body = current.body if req.body is None else body_bytes(req.body)
    headers = current.headers if req.headers is None else dict(req.headers)
    check_limits(headers, body, limits)
    return dataclasses.replace(
        current,
        body=body,
        headers=headers,
        scheduled_at=scheduled_time(req.scheduled_at, req.delay_seconds, now),
        priority=current.priority if req.priority is None else req.priority,
    )


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the field: `delay_seconds: must be >= 0`."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


_M = TypeVar("_M", bound=BaseModel)


def parse_request(data: dict[str, Any] | bytes | str) -> ScheduleRequest:
    """Validate a request from a dict or JSON, raising InvalidEvent naming the fields."""
    return _parse(ScheduleRequest, data)


def parse_reschedule(data: dict[str, Any] | bytes | str) -> RescheduleRequest:
    """Validate a reschedule from a dict or JSON, raising InvalidEvent naming the fields."""
    return _parse(RescheduleRequest, data)


def _parse(model: type[_M], data: dict[str, Any] | bytes | str) -> _M:
    try:
        if isinstance(data, dict):
            return model.model_validate(data)
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]["loc"] if exc.errors() else ()
        raise InvalidEvent(
            describe_validation_error(exc), field=str(first[0]) if first else None
        ) from None
