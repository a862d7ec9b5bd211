"""OpenAPI examples of /api/v1/schedules/monitoring/..., and the responses several of its
routes share (api.routes.monitoring)."""

from __future__ import annotations

from typing import Any

from api.errors import Problem
from api.schemas.monitoring import JobResult
from scheduler.runtime import COLD_TIER_DISABLED

NO_COLD_TIER: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "description": "The cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false).",
        "content": {"application/json": {"example": {"detail": COLD_TIER_DISABLED}}},
    }
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

HEALTH_EXAMPLE = {
    "status": "healthy",
    "timestamp": "2026-11-23T09:00:00.123456+00:00",
    "components": {
        "redis": {"status": "up", "latency_ms": 0.41},
        "clickhouse": {"status": "up", "latency_ms": 2.3},
        "kafka": {"status": "up", "latency_ms": 0.52},
    },
}
UNHEALTHY_EXAMPLE = {
    "status": "unhealthy",
    "timestamp": "2026-11-23T09:00:00.123456+00:00",
    "components": {
        "redis": {"status": "down", "latency_ms": 2000.1, "error": "TimeoutError"},
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
    "rate_limits": {
        "limits": [
            {
                "topic": "emails",
                "events_per_second": 50.0,
                "burst": 500.0,
                "source": "settings",
                "throttled": 120,
            }
        ],
        "throttled": 120,
    },
}
METRICS_EXAMPLE = (
    'schedules_http_requests_total{method="GET",route="/api/v1/'
    'schedules/{schedule_id}",status="200"} 3.0\n'
)
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
CLEANUP_EXAMPLE = {
    "job": "cleanup",
    "via": "in_process",
    "finished": True,
    "removed": {"executed": 5230, "cancelled": 12},
    "partitions_dropped": [],
    "hot_orphans": 0,
    "seconds": 0.31,
}
START_NOT_BEFORE_END_EXAMPLE = {"detail": "start must be before end", "field": "start"}

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
TIMELINE_EXAMPLE = {
    "minutes": 2,
    "since": "2026-11-23T08:58:00Z",
    "per_minute": [
        {"minute": "2026-11-23T08:58:00Z", "fired": 120, "failed": 0, "skipped": 0},
        {"minute": "2026-11-23T08:59:00Z", "fired": 131, "failed": 2, "skipped": 1},
        {"minute": "2026-11-23T09:00:00Z", "fired": 17, "failed": 0, "skipped": 0},
    ],
}
_SYNC_RUN = {
    "job": "sync",
    "workflow_id": "schedules-sync-run-2026-11-23T09:00:00Z",
    "run_id": "0193a1c2-7b9e-7c55-9d1e-4f6d2b8a9e01",
    "status": "completed",
    "started_at": "2026-11-23T09:00:00.012Z",
    "closed_at": "2026-11-23T09:00:00.841Z",
    "seconds": 0.829,
}
JOB_RUNS_EXAMPLE = {
    "via": "temporal",
    "runs": [
        _SYNC_RUN,
        {
            "job": "recovery",
            "workflow_id": "schedules-recovery-run-2026-11-23T08:59:00Z",
            "run_id": "0193a1c1-91d0-7a3b-8c3e-2b1d4e5f6a70",
            "status": "completed",
            "started_at": "2026-11-23T08:59:00.010Z",
            "closed_at": "2026-11-23T08:59:00.133Z",
            "seconds": 0.123,
        },
    ],
    "last_sync": _SYNC_RUN,
}
