"""The operator runbook's endpoints: /api/v1/schedules/monitoring/{health,stats,metrics,
sync,cleanup,analytics/...}."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Authorized, ServiceDep, SettingsDep, TemporalDep
from scheduler.errors import ConfigError, InvalidEvent
from scheduler.service import SchedulerService
from workflows.client import run_job

router = APIRouter(prefix="/api/v1/schedules/monitoring", tags=["monitoring"])

CHECK_TIMEOUT = 2.0
# The runbook's queue depth thresholds: below `normal` is normal, above `critical` is
# critical, in between is warning.
THRESHOLDS = {"redis_pending": (10_000, 100_000), "pending": (100_000, 1_000_000)}


def level(name: str, value: int | None) -> str | None:
    if value is None:
        return None
    normal, critical = THRESHOLDS[name]
    if value < normal:
        return "normal"
    return "critical" if value > critical else "warning"


async def _check(probe: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except Exception as exc:
        ms = round((time.perf_counter() - started) * 1000, 2)
        return {"status": "down", "latency_ms": ms, "error": str(exc) or type(exc).__name__}
    return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def _kafka_reachable(bootstrap: str) -> None:
    """A TCP connection to the first reachable bootstrap broker."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.open_connection(host or "127.0.0.1", int(port))
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {exc}")
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise ConnectionError("; ".join(errors))


@router.get(
    "/health",
    responses={503: {"description": "Unhealthy: Redis (the hot tier) is unreachable."}},
)
async def health(service: ServiceDep, settings: SettingsDep, temporal: TemporalDep) -> JSONResponse:
    """`healthy`; `degraded` (still 200) when ClickHouse, Kafka or Temporal is down;
    `unhealthy` (503) when Redis is down, since nothing can be scheduled or fired."""
    redis = service.redis

    async def ping_redis() -> None:
        if redis is None:
            raise ConnectionError("not connected")
        await redis.ping()

    checks: dict[str, Callable[[], Awaitable[Any]]] = {"redis": ping_redis}
    clickhouse = service.clickhouse
    if settings.cold_tier_enabled and clickhouse is not None:
        checks["clickhouse"] = lambda: clickhouse.query("SELECT 1 AS ok")
    checks["kafka"] = lambda: _kafka_reachable(settings.kafka_bootstrap_servers)
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


@router.get("/stats")
async def stats(service: ServiceDep) -> dict[str, Any]:
    """Queue depths (`redis_pending`: Redis, `pending`: ClickHouse), what is in flight,
    which background roles are `running`, and each queue depth's level."""
    result = await service.get_stats()
    result["dead_lettered"] = result.get("ingest", {}).get("dead_lettered", 0)
    result["levels"] = {
        "redis_pending": level("redis_pending", result.get("redis_pending")),
        "pending": level("pending", result.get("pending")),
    }
    return result


@router.get("/metrics", response_class=Response)
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
        if service.cold_ops is None:
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
    responses={202: {"description": "Still running after the wait; see workflow_id."}},
)
async def sync(service: ServiceDep, settings: SettingsDep, temporal: TemporalDep) -> JSONResponse:
    """Move cold schedules due within the transfer horizon into Redis now."""
    return await _run("sync", service, settings, temporal, service.sync_clickhouse_to_redis)


@router.post(
    "/cleanup",
    dependencies=[Authorized],
    responses={202: {"description": "Still running after the wait; see workflow_id."}},
)
async def cleanup(
    service: ServiceDep, settings: SettingsDep, temporal: TemporalDep
) -> JSONResponse:
    """Remove finished schedules older than retention, and orphaned hot-tier data."""
    return await _run("cleanup", service, settings, temporal, service.cleanup_old_schedules)


def _analytics(service: SchedulerService) -> Any:
    if service.analytics is None:
        raise ConfigError("analytics need the cold tier (SCHEDULES_COLD_TIER_ENABLED)")
    return service.analytics


@router.get("/analytics/summary")
async def analytics_summary(
    service: ServiceDep, hours: int = Query(24, ge=1, le=24 * 366)
) -> dict[str, Any]:
    """Execution outcomes of the last `hours` hours and the most failing entity types."""
    return dataclasses.asdict(await _analytics(service).get_summary(hours))


def _in_range(d: datetime, name: str) -> datetime:
    """UTC, and within what ClickHouse's DateTime64 can hold."""
    try:
        d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    except OverflowError:
        raise InvalidEvent("out of range", field=name) from None
    if not 1971 <= d.year <= 2200:
        raise InvalidEvent("must be between 1971 and 2200", field=name)
    return d


@router.get("/analytics/performance")
async def analytics_performance(
    service: ServiceDep,
    hours: int = Query(24, ge=1, le=24 * 366),
    start: datetime | None = None,
    end: datetime | None = None,
    entity_type: str | None = None,
    action: str | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    """Hourly figures from `start` (default: `hours` before `end`) to `end` (default now)."""
    end_at = _in_range(end or datetime.now(UTC), "end")
    start_at = _in_range(start or end_at - timedelta(hours=hours), "start")
    if start_at >= end_at:
        raise InvalidEvent("start must be before end", field="start")
    metrics = await _analytics(service).get_performance_metrics(
        start_at, end_at, entity_type=entity_type, action=action, topic=topic
    )
    return dataclasses.asdict(metrics)
