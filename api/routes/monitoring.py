"""The operator runbook's endpoints: /api/v1/schedules/monitoring/{health,stats,metrics,
sync,cleanup,analytics/...,pause,resume}."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.deps import Authorized, ServiceDep, SettingsDep, TemporalDep
from api.errors import Problem, ValidationProblem, error_responses
from scheduler.cold.analytics import ExecutionSummary, PerformanceMetrics, ScheduleAnalyticsService
from scheduler.errors import ConfigError, InvalidEvent
from scheduler.hot.pause import MAX_REASON, PauseState, Scope
from scheduler.kafka import probe_broker
from scheduler.levels import Level, queue_levels
from scheduler.models import INT32, TOPIC_PATTERN
from scheduler.service import SchedulerService
from workflows.client import run_job

router = APIRouter(prefix="/api/v1/schedules/monitoring", tags=["monitoring"])

CHECK_TIMEOUT = 2.0
# Within the check's own bound, so that a broker that does not answer is reported as such.
KAFKA_PROBE_TIMEOUT = CHECK_TIMEOUT * 0.9


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


class JobResult(BaseModel):
    """Plus the job's own figures when it finished (sync: transferred, demoted, ...;
    cleanup: removed, hot_orphans, ...)."""

    model_config = ConfigDict(extra="allow")
    job: Literal["sync", "cleanup"]
    via: Literal["in_process", "temporal"]
    finished: bool
    workflow_id: str | None = Field(None, description="The Temporal workflow (via temporal).")


NO_COLD_TIER: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "description": "The cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false).",
        "content": {
            "application/json": {
                "example": {
                    "detail": "the cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false)"
                }
            }
        },
    }
}
HEALTH_EXAMPLE = {
    "status": "healthy",
    "timestamp": "2026-11-23T09:00:00.123456+00:00",
    "components": {
        "redis": {"status": "up", "latency_ms": 0.41},
        "clickhouse": {"status": "up", "latency_ms": 2.3},
        "kafka": {"status": "up", "latency_ms": 0.52},
    },
}
STATS_EXAMPLE = {
    "pending": 1520,
    "redis_pending": 873,
    "in_flight": 12,
    "running": {"executor": True, "consumer": True},
    "dead_lettered": 0,
    "levels": {"redis_pending": "normal", "pending": "normal"},
    "processing": 0,
    "journal_buffered": 0,
    "circuit_breaker": "closed",
    "ingest": {"stored": 10412, "duplicates": 3, "dead_lettered": 0},
}
SYNC_EXAMPLE = {
    "job": "sync",
    "via": "in_process",
    "finished": True,
    "transferred": 120,
    "demoted": 0,
    "resolved": 0,
    "duplicates": 0,
    "cancelled": 0,
    "batches": 1,
    "seconds": 0.08,
}
STILL_RUNNING = {
    "model": JobResult,
    "description": "Still running after SCHEDULES_API_JOB_WAIT_SECONDS; see workflow_id.",
    "content": {
        "application/json": {
            "example": {
                "job": "sync",
                "via": "temporal",
                "workflow_id": "schedules-sync-manual-01JD0000000000000000000000",
                "finished": False,
            }
        }
    },
}


async def _check(probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except Exception as exc:
        ms = round((time.perf_counter() - started) * 1000, 2)
        return {"status": "down", "latency_ms": ms, "error": str(exc) or type(exc).__name__}
    return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _kafka_answers(bootstrap: str) -> None:
    """A broker answers a request (scheduler.kafka.probe_broker, as the executor asks)."""
    error = await probe_broker(bootstrap, KAFKA_PROBE_TIMEOUT)
    if error is not None:
        raise ConnectionError(error)


@router.get(
    "/health",
    responses={
        200: {
            "model": Health,
            "description": "healthy, or degraded (ClickHouse, Kafka or Temporal down).",
            "content": {"application/json": {"example": HEALTH_EXAMPLE}},
        },
        503: {
            "model": Health,
            "description": "Unhealthy: Redis (the hot tier) is unreachable.",
            "content": {
                "application/json": {
                    "example": {
                        "status": "unhealthy",
                        "timestamp": "2026-11-23T09:00:00.123456+00:00",
                        "components": {
                            "redis": {
                                "status": "down",
                                "latency_ms": 2000.1,
                                "error": "TimeoutError",
                            },
                            "kafka": {"status": "up", "latency_ms": 0.52},
                        },
                    }
                }
            },
        },
    },
)
async def health(service: ServiceDep, settings: SettingsDep, temporal: TemporalDep) -> JSONResponse:
    """`healthy`; `degraded` (still 200) when ClickHouse, Kafka or Temporal is down;
    `unhealthy` (503) when Redis is down, since nothing can be scheduled or fired."""
    redis = service.runtime.redis

    async def ping_redis() -> None:
        if redis is None:
            raise ConnectionError("not connected")
        await redis.ping()

    checks: dict[str, Callable[[], Awaitable[Any]]] = {"redis": ping_redis}
    clickhouse = service.runtime.clickhouse
    if settings.cold_tier_enabled and clickhouse is not None:
        checks["clickhouse"] = clickhouse.ping
    checks["kafka"] = lambda: _kafka_answers(settings.kafka_bootstrap_servers)
    if temporal is not None:
        checks["temporal"] = lambda: temporal.service_client.check_health()
    results = await asyncio.gather(*(_check(p) for p in checks.values()))
    components = dict(zip(checks, results, strict=True))
    if components["redis"]["status"] != "up":
        overall, code = "unhealthy", 503
    elif any(c["status"] != "up" for c in components.values()):
        overall, code = "degraded", 200
    else:
        overall, code = "healthy", 200
    body = {
        "status": overall,
        "timestamp": datetime.now(UTC).isoformat(),
        "components": components,
    }
    return JSONResponse(body, status_code=code)


@router.get(
    "/stats",
    response_model=Stats,
    response_model_exclude_unset=True,
    responses={
        200: {"content": {"application/json": {"example": STATS_EXAMPLE}}},
        **error_responses(503),
    },
)
async def stats(service: ServiceDep) -> dict[str, Any]:
    """Queue depths (`redis_pending`: Redis, `pending`: ClickHouse), what is in flight,
    which background roles are `running`, and each queue depth's level."""
    result = await service.get_stats()
    result["dead_lettered"] = result.get("ingest", {}).get("dead_lettered", 0)
    result["levels"] = queue_levels(result)
    return result


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {
                CONTENT_TYPE_LATEST: {
                    "schema": {"type": "string"},
                    "example": 'schedules_http_requests_total{method="GET",route="/api/v1/'
                    'schedules/{schedule_id}",status="200"} 3.0\n',
                }
            },
        },
        **error_responses(503),
    },
)
async def prometheus_metrics(service: ServiceDep) -> Response:
    """Prometheus text exposition format."""
    await service.get_stats()  # refreshes the gauges that are counted on demand
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _as_dict(result: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return dict(result) if isinstance(result, dict) else {"result": result}


async def _run(
    job: str,
    service: SchedulerService,
    settings: Any,
    temporal: Any,
    in_process: Callable[[], Awaitable[Any]],
) -> JSONResponse:
    if temporal is None:
        if service.runtime.cold_ops is None:
            raise ConfigError("the cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false)")
        body = {"job": job, "via": "in_process", "finished": True, **_as_dict(await in_process())}
        return JSONResponse(body)
    run = await run_job(temporal, settings, job, wait_seconds=settings.api_job_wait_seconds)
    body = {"job": job, "via": "temporal", "workflow_id": run.workflow_id, "finished": run.finished}
    if not run.finished:
        return JSONResponse(body, status_code=202)
    return JSONResponse({**body, **_as_dict(run.result)})


@router.post(
    "/sync",
    dependencies=[Authorized],
    responses={
        200: {
            "model": JobResult,
            "description": "Finished; the job's figures.",
            "content": {"application/json": {"example": SYNC_EXAMPLE}},
        },
        202: STILL_RUNNING,
        **NO_COLD_TIER,
        **error_responses(401, 503),
    },
)
async def sync(service: ServiceDep, settings: SettingsDep, temporal: TemporalDep) -> JSONResponse:
    """Move cold schedules due within the transfer horizon into Redis now."""
    return await _run("sync", service, settings, temporal, service.sync_clickhouse_to_redis)


@router.post(
    "/cleanup",
    dependencies=[Authorized],
    responses={
        200: {
            "model": JobResult,
            "description": "Finished; the job's figures.",
            "content": {
                "application/json": {
                    "example": {
                        "job": "cleanup",
                        "via": "in_process",
                        "finished": True,
                        "removed": {"executed": 5230, "cancelled": 12},
                        "partitions_dropped": [],
                        "hot_orphans": 0,
                        "seconds": 0.31,
                    }
                }
            },
        },
        202: STILL_RUNNING,
        **NO_COLD_TIER,
        **error_responses(401, 503),
    },
)
async def cleanup(
    service: ServiceDep, settings: SettingsDep, temporal: TemporalDep
) -> JSONResponse:
    """Remove finished schedules older than retention, and orphaned hot-tier data."""
    return await _run("cleanup", service, settings, temporal, service.cleanup_old_schedules)


def _analytics(service: SchedulerService) -> ScheduleAnalyticsService:
    if service.runtime.analytics is None:
        raise ConfigError("analytics need the cold tier (SCHEDULES_COLD_TIER_ENABLED)")
    return service.runtime.analytics


@router.get("/analytics/summary", responses={**NO_COLD_TIER, **error_responses(503)})
async def analytics_summary(
    service: ServiceDep, hours: int = Query(24, ge=1, le=24 * 366)
) -> ExecutionSummary:
    """Execution outcomes of the last `hours` hours and the most failing entity types."""
    return await _analytics(service).get_summary(hours)


def _in_range(d: datetime, name: str) -> datetime:
    """UTC, and within what ClickHouse's DateTime64 can hold: the year as written (what
    IN_RANGE says) 1971-2200; in UTC that is at most a day beyond."""
    if not 1971 <= d.year <= 2200:
        raise InvalidEvent("must be between 1971 and 2200", field=name)
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


# An RFC 3339 date-time (JSON Schema's `date-time`) in the years 1971-2200, without the leap
# second Python cannot read: what `_in_range` takes, as an ECMA-262 pattern.
IN_RANGE = (
    r"^(197[1-9]|19[89][0-9]|2[01][0-9]{2}|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


@router.get(
    "/analytics/performance",
    responses={
        422: {
            "model": ValidationProblem,
            "description": "Bad input: a parameter against its schema, or `start` not before "
            "`end` (with the defaults filled in: a rule JSON Schema cannot state). `field` names "
            "the failing parameter.",
            "content": {
                "application/json": {
                    "example": {"detail": "start must be before end", "field": "start"}
                }
            },
        },
        **NO_COLD_TIER,
        **error_responses(503),
    },
)
async def analytics_performance(
    service: ServiceDep,
    hours: int = Query(24, ge=1, le=24 * 366),
    start: Annotated[
        datetime | None,
        Query(
            description="Default: `hours` before `end`. Must be before `end`.",
            json_schema_extra={"pattern": IN_RANGE},
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        Query(
            description="Default: now. Must be after `start`.",
            json_schema_extra={"pattern": IN_RANGE},
        ),
    ] = None,
    entity_type: str | None = None,
    action: str | None = None,
    topic: str | None = None,
) -> PerformanceMetrics:
    """Hourly figures from `start` (default: `hours` before `end`) to `end` (default now),
    in the years 1971-2200. 422 unless `start` is before `end`."""
    end_at = _in_range(end or datetime.now(UTC), "end")
    start_at = _in_range(start or end_at - timedelta(hours=hours), "start")
    if start_at >= end_at:
        raise InvalidEvent("start must be before end", field="start")
    return await _analytics(service).get_performance_metrics(
        start_at, end_at, entity_type=entity_type, action=action, topic=topic
    )


# --- pause / resume (the runbook's load shedding) ----------------------------------------


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


PAUSE_EXAMPLES: dict[str, Any] = {
    "topic": {"summary": "One topic", "value": {"topic": "orders", "reason": "INC-42"}},
    "priority": {
        "summary": "Load shedding: priorities below 0",
        "value": {"priority_below": 0, "reason": "high load"},
    },
    "all": {"summary": "Everything", "value": {"all": True}},
}
RESUME_EXAMPLES: dict[str, Any] = {
    "topic": {"summary": "One topic", "value": {"topic": "orders"}},
    "priority": {"summary": "The priority threshold", "value": {"priority": True}},
    "all": {"summary": "Every pause", "value": {"all": True}},
}


def _paused(state: PauseState) -> PausedStatus:
    return PausedStatus.model_validate(state.to_dict())


@router.post("/pause", dependencies=[Authorized], responses=error_responses(401, 413, 503))
async def pause(
    service: ServiceDep,
    request: Annotated[PauseRequest, Body(openapi_examples=PAUSE_EXAMPLES)],
) -> PausedStatus:
    """Stop firing everything, one topic, or priorities below a threshold. Paused events
    stay scheduled (cancellable, counted) and fire after resume, subject to their own
    `max_delay_seconds`. Pauses are kept in Redis: every executor obeys them."""
    if request.all:
        state = await service.pause(Scope.ALL, reason=request.reason)
    elif request.topic is not None:
        state = await service.pause(Scope.TOPIC, topic=request.topic, reason=request.reason)
    else:
        state = await service.pause(
            Scope.PRIORITY, priority_below=request.priority_below, reason=request.reason
        )
    return _paused(state)


@router.post("/resume", dependencies=[Authorized], responses=error_responses(401, 413, 503))
async def resume(
    service: ServiceDep,
    request: Annotated[ResumeRequest, Body(openapi_examples=RESUME_EXAMPLES)],
) -> PausedStatus:
    """End a pause; the events it held fire at once, oldest first."""
    if request.all:
        state = await service.resume(Scope.ALL)
    elif request.topic is not None:
        state = await service.resume(Scope.TOPIC, topic=request.topic)
    else:
        state = await service.resume(Scope.PRIORITY)
    return _paused(state)
