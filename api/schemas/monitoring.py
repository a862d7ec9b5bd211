"""Request and response models of /api/v1/schedules/monitoring/... (api.routes.monitoring);
their OpenAPI examples are in api.schemas.monitoring_examples."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.ratelimits import RateLimits
from scheduler.errors import InvalidEvent
from scheduler.hot.pause import MAX_REASON
from scheduler.levels import Level
from scheduler.models import INT32, TOPIC_PATTERN

# --- health, stats, jobs -----------------------------------------------------------------


class Check(BaseModel):
    status: Literal["up", "down"]
    latency_ms: float
    error: str | None = Field(None, description="Why it is down.")


class Health(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime
    components: dict[str, Check] = Field(
        description="redis, kafka; clickhouse with the cold tier; temporal when served with it."
    )


class Levels(BaseModel):
    redis_pending: Level | None
    pending: Level | None = Field(description="null while ClickHouse is unreachable.")


class Ingest(BaseModel):
    stored: int
    duplicates: int
    dead_lettered: int


class Stats(BaseModel):
    """Always the first six fields; the others when that part runs in this process."""

    model_config = ConfigDict(extra="allow")
    pending: int | None = Field(
        description="Schedules waiting in ClickHouse (0 without the cold tier; null, with "
        "`cold_error`, while it is unreachable)."
    )
    redis_pending: int = Field(description="Schedules waiting in Redis.")
    in_flight: int = Field(description="Claimed by an executor, not yet acknowledged.")
    running: dict[str, bool] = Field(description="Background roles of this process: alive?")
    dead_lettered: int = Field(description="Envelopes this process's consumer dead-lettered.")
    levels: Levels = Field(description="The runbook's grading of the queue depths.")
    processing: int | None = None
    cold_error: str | None = None
    journal_buffered: int | None = None
    circuit_breaker: str | None = None
    ingest: Ingest | None = None
    rate_limits: RateLimits | None = Field(
        None, description="Per-topic rate limits in force, and the events waiting for them."
    )


class JobResult(BaseModel):
    """Plus the job's own figures when it finished (sync: transferred, demoted, ...;
    cleanup: removed, hot_orphans, ...)."""

    model_config = ConfigDict(extra="allow")
    job: Literal["sync", "cleanup"]
    via: Literal["in_process", "temporal"]
    finished: bool
    workflow_id: str | None = Field(None, description="The Temporal workflow (via temporal).")


class JobRun(BaseModel):
    job: str = Field(description="sync, cleanup, recovery or recurring.")
    workflow_id: str
    run_id: str
    status: str = Field(
        description="running, completed, failed, canceled, terminated, continued_as_new or "
        "timed_out."
    )
    started_at: datetime
    closed_at: datetime | None
    seconds: float | None = Field(description="How long it ran (null while running).")


class JobRuns(BaseModel):
    """The latest runs of the background jobs, newest first."""

    via: Literal["temporal", "in_process"] = Field(
        description="temporal: listed by the Temporal client of this API process; "
        "in_process: this process has none, and in-process jobs keep no history (their "
        "log lines and metrics tell)."
    )
    runs: list[JobRun]
    last_sync: JobRun | None = Field(description="The latest sync run among them.")


# --- analytics ---------------------------------------------------------------------------

# An RFC 3339 date-time (JSON Schema's `date-time`) in the years 1971-2200, without the leap
# second Python cannot read: what `in_range` takes, as an ECMA-262 pattern.
IN_RANGE = (
    r"^(197[1-9]|19[89][0-9]|2[01][0-9]{2}|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def in_range(d: datetime, name: str) -> datetime:
    """UTC, and within what ClickHouse's DateTime64 can hold: the year as written (what
    IN_RANGE says) 1971-2200; in UTC that is at most a day beyond."""
    if not 1971 <= d.year <= 2200:
        raise InvalidEvent("must be between 1971 and 2200", field=name)
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


# --- pause / resume ----------------------------------------------------------------------


def _exactly_one(*scopes: tuple[str, dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    """JSON Schema for "exactly one scope" (the `_one_scope` validators): a `oneOf` of one
    branch per scope, each requiring its field with a value that selects it (`true`, or
    not null); and the topic's pattern."""

    def extra(schema: dict[str, Any]) -> None:
        schema["oneOf"] = [
            {"required": [name], "properties": {name: selects}} for name, selects in scopes
        ]
        for branch in schema["properties"]["topic"]["anyOf"]:
            if branch.get("type") == "string":
                branch.update(pattern=TOPIC_PATTERN, minLength=1, maxLength=249)

    return extra


class PauseRequest(BaseModel):
    """Exactly one of `all`, `topic`, `priority_below`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_exactly_one(
            ("all", {"const": True}),
            ("topic", {"type": "string"}),
            ("priority_below", {"type": "integer"}),
        ),
    )
    all: bool = Field(False, strict=True, description="Stop firing everything.")
    topic: str | None = Field(None, description="Stop firing events for this Kafka topic.")
    priority_below: int | None = Field(
        None,
        ge=-INT32,
        le=INT32 + 1,
        strict=True,
        description="Stop firing events whose priority is lower than this (replaces an "
        "earlier threshold).",
    )
    reason: str | None = Field(None, max_length=MAX_REASON, description="Shown in stats.")

    @field_validator("priority_below", mode="before")
    @classmethod
    def _integral(cls, v: Any) -> Any:
        """5.0 is an integer to JSON Schema (and JSON): accept it. Strict otherwise, so
        `true` or "5" is refused."""
        return int(v) if isinstance(v, float) and v.is_integer() else v

    @model_validator(mode="after")
    def _one_scope(self) -> PauseRequest:
        given = [self.all, self.topic is not None, self.priority_below is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of all (true), topic, priority_below")
        return self


class ResumeRequest(BaseModel):
    """Exactly one of `all`, `topic`, `priority`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_exactly_one(
            ("all", {"const": True}), ("topic", {"type": "string"}), ("priority", {"const": True})
        ),
    )
    all: bool = Field(False, strict=True, description="End every pause (all, topics, priority).")
    topic: str | None = Field(None, description="End this topic's pause.")
    priority: bool = Field(False, strict=True, description="End the priority threshold pause.")

    @model_validator(mode="after")
    def _one_scope(self) -> ResumeRequest:
        if sum([self.all, self.topic is not None, self.priority]) != 1:
            raise ValueError("give exactly one of all (true), topic, priority (true)")
        return self


class PauseInfo(BaseModel):
    scope: str = Field(description="all, topic or priority")
    since: datetime
    reason: str | None = None
    topic: str | None = None
    priority_below: int | None = None


class PausedStatus(BaseModel):
    """What is paused (also `paused` in stats)."""

    active: bool = Field(description="Any pause is in force.")
    all: bool = Field(description="Everything is paused.")
    topics: list[str] = Field(description="Paused topics.")
    priority_below: int | None = Field(description="Priorities below this are paused.")
    held: int = Field(description="Due events a topic or priority pause holds back.")
    pauses: list[PauseInfo]
