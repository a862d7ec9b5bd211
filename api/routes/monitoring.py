"""The operator runbook's endpoints: /api/v1/schedules/monitoring/{health,stats,metrics,
sync,cleanup,analytics/...,pause,resume}. Models in api.schemas.monitoring, examples in
api.schemas.monitoring_examples, the health probes in api.probes, the manual jobs in
api.jobs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import AnalyticsDep, Authorized, HealthDep, JobsDep, ServiceDep
from api.errors import ValidationProblem, error_responses
from api.schemas.monitoring import (
    IN_RANGE,
    Health,
    JobResult,
    JobRuns,
    PausedStatus,
    PauseRequest,
    ResumeRequest,
    Stats,
    in_range,
)
from api.schemas.monitoring_examples import (
    CLEANUP_EXAMPLE,
    HEALTH_EXAMPLE,
    JOB_RUNS_EXAMPLE,
    METRICS_EXAMPLE,
    NO_COLD_TIER,
    PAUSE_EXAMPLES,
    RESUME_EXAMPLES,
    START_NOT_BEFORE_END_EXAMPLE,
    STATS_EXAMPLE,
    STILL_RUNNING,
    SYNC_EXAMPLE,
    TIMELINE_EXAMPLE,
    UNHEALTHY_EXAMPLE,
)
from scheduler.cold.analytics import ExecutionSummary, PerformanceMetrics, Timeline
from scheduler.errors import InvalidEvent
from scheduler.hot.pause import PauseState, Scope
from scheduler.levels import queue_levels

router = APIRouter(prefix="/api/v1/schedules/monitoring", tags=["monitoring"])


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
            "content": {"application/json": {"example": UNHEALTHY_EXAMPLE}},
        },
    },
)
async def health(probes: HealthDep) -> JSONResponse:
    """`healthy`; `degraded` (still 200) when ClickHouse, Kafka or Temporal is down;
    `unhealthy` (503) when Redis is down, since nothing can be scheduled or fired."""
    body, code = await probes.report()
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
                CONTENT_TYPE_LATEST: {"schema": {"type": "string"}, "example": METRICS_EXAMPLE}
            },
        },
    },
)
async def prometheus_metrics() -> Response:
    """Prometheus text exposition format: this process's registry, as its /metrics
    endpoint (SCHEDULES_METRICS_PORT) serves it. The queue gauges are read from Redis and
    ClickHouse now; a store that does not answer within a second is left out, the rest
    is served."""
    # In a worker thread: the collector's reads block (scheduler.collector).
    body = await asyncio.to_thread(generate_latest)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


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
async def sync(jobs: JobsDep) -> JSONResponse:
    """Move cold schedules due within the transfer horizon into Redis now."""
    body, code = await jobs.run("sync")
    return JSONResponse(body, status_code=code)


@router.post(
    "/cleanup",
    dependencies=[Authorized],
    responses={
        200: {
            "model": JobResult,
            "description": "Finished; the job's figures.",
            "content": {"application/json": {"example": CLEANUP_EXAMPLE}},
        },
        202: STILL_RUNNING,
        **NO_COLD_TIER,
        **error_responses(401, 503),
    },
)
async def cleanup(jobs: JobsDep) -> JSONResponse:
    """Remove finished schedules older than retention, and orphaned hot-tier data."""
    body, code = await jobs.run("cleanup")
    return JSONResponse(body, status_code=code)


@router.get(
    "/jobs",
    response_model=JobRuns,
    responses={
        200: {"content": {"application/json": {"example": JOB_RUNS_EXAMPLE}}},
        **error_responses(503),
    },
)
async def job_runs(jobs: JobsDep, limit: int = Query(10, ge=1, le=100)) -> dict[str, Any]:
    """The latest runs of the sync, cleanup and recovery workflows (scheduled and manual),
    newest first, with the last sync's duration: from Temporal when this API process has
    its client (`make dev`, `serve` with the worker); 503 when Temporal does not answer."""
    return await jobs.recent(limit)


@router.get("/analytics/summary", responses={**NO_COLD_TIER, **error_responses(503)})
async def analytics_summary(
    analytics: AnalyticsDep, hours: int = Query(24, ge=1, le=24 * 366)
) -> ExecutionSummary:
    """Execution outcomes of the last `hours` hours and the most failing entity types."""
    return await analytics().get_summary(hours)


@router.get(
    "/analytics/timeline",
    responses={
        200: {"content": {"application/json": {"example": TIMELINE_EXAMPLE}}},
        **NO_COLD_TIER,
        **error_responses(503),
    },
)
async def analytics_timeline(
    analytics: AnalyticsDep, minutes: int = Query(60, ge=1, le=24 * 60)
) -> Timeline:
    """Fired (published), failed (dead-lettered or timed out) and skipped per minute, for
    the last `minutes` whole minutes and the current one, oldest first, zeros included:
    the console's chart."""
    return await analytics().get_timeline(minutes)


@router.get(
    "/analytics/performance",
    responses={
        422: {
            "model": ValidationProblem,
            "description": "Bad input: a parameter against its schema, or `start` not before "
            "`end` (with the defaults filled in: a rule JSON Schema cannot state). `field` names "
            "the failing parameter.",
            "content": {"application/json": {"example": START_NOT_BEFORE_END_EXAMPLE}},
        },
        **NO_COLD_TIER,
        **error_responses(503),
    },
)
async def analytics_performance(
    analytics: AnalyticsDep,
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
    end_at = in_range(end or datetime.now(UTC), "end")
    start_at = in_range(start or end_at - timedelta(hours=hours), "start")
    if start_at >= end_at:
        raise InvalidEvent("start must be before end", field="start")
    return await analytics().get_performance_metrics(
        start_at, end_at, entity_type=entity_type, action=action, topic=topic
    )


# --- pause / resume (the runbook's load shedding) ----------------------------------------


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
