"""GET /api/v1/schedules/{schedule_id}/event: a schedule's event as stored, body and
headers included, and GET .../{schedule_id}/attempts: its delivery attempts (the console's
schedule page), and GET .../{schedule_id}/history: its status history (the page's
timeline). Bodies may be confidential, so with SCHEDULES_API_TOKEN set the event
needs the token (or the console's session)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import AnalyticsDep, Authorized, ServiceDep
from api.errors import Problem, error_responses
from api.schemas.monitoring_examples import NO_COLD_TIER
from scheduler.cold.analytics import Attempt
from scheduler.history import ScheduleHistory
from scheduler.models import Event

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


class StoredEvent(BaseModel):
    schedule_id: str
    topic: str
    scheduled_at: datetime
    created_at: datetime
    entity_type: str
    action: str
    correlation_id: str | None
    priority: int
    max_delay_seconds: int
    headers: dict[str, str] = Field(description="As published (the scheduler adds its own).")
    body: str = Field(
        description="The body as text: its UTF-8 bytes decoded, any invalid byte replaced "
        "by U+FFFD (see body_utf8)."
    )
    body_bytes: int = Field(description="Size of the body as published.")
    body_utf8: bool = Field(description="false: the body is not valid UTF-8; `body` is lossy.")

    @classmethod
    def of(cls, ev: Event) -> StoredEvent:
        try:
            text, utf8 = ev.body.decode("utf-8"), True
        except UnicodeDecodeError:
            text, utf8 = ev.body.decode("utf-8", "replace"), False
        return cls(
            schedule_id=ev.schedule_id,
            topic=ev.topic,
            scheduled_at=ev.scheduled_at_datetime,
            created_at=datetime.fromtimestamp(ev.created_at, UTC),
            entity_type=ev.entity_type,
            action=ev.action,
            correlation_id=ev.correlation_id,
            priority=ev.priority,
            max_delay_seconds=ev.max_delay_seconds,
            headers=ev.headers,
            body=text,
            body_bytes=len(ev.body),
            body_utf8=utf8,
        )


EXAMPLE = {
    "schedule_id": "reminder-123",
    "topic": "user.notifications",
    "scheduled_at": "2026-11-23T10:00:00Z",
    "created_at": "2026-11-23T09:00:00.120Z",
    "entity_type": "user",
    "action": "send_reminder",
    "correlation_id": "signup-123",
    "priority": 10,
    "max_delay_seconds": 600,
    "headers": {"content-type": "application/json", "source": "signup"},
    "body": '{"user_id":123,"template":"reminder"}',
    "body_bytes": 37,
    "body_utf8": True,
}


@router.get(
    "/{schedule_id}/event",
    dependencies=[Authorized],
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE}}},
        404: {
            "model": Problem,
            "description": "Unknown schedule_id, or its event is no longer stored (finished "
            "without the cold tier, or removed by the cleanup).",
            "content": {
                "application/json": {"example": {"detail": "no stored event 'reminder-123'"}}
            },
        },
        **error_responses(401, 503),
    },
)
async def get_event(schedule_id: str, service: ServiceDep) -> StoredEvent:
    """The event as stored: body (as text), headers and the fields it was scheduled with."""
    ev = await service.get_event(schedule_id)
    if ev is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stored event {schedule_id!r}")
    return StoredEvent.of(ev)


class Attempts(BaseModel):
    schedule_id: str
    attempts: list[Attempt] = Field(
        description="Each delivery attempt's outcome, oldest first (success, error, timeout "
        "or skipped; a retried attempt is an error or a timeout)."
    )


ATTEMPTS_EXAMPLE = {
    "schedule_id": "reminder-123",
    "attempts": [
        {
            "executed_at": "2026-11-23T10:00:10.007Z",
            "status": "timeout",
            "delay_seconds": 10.007,
            "error": "KafkaTimeoutError: not acknowledged within 10000 ms",
            "retry_count": 0,
            "processing_time_ms": 10004,
            "node_id": "executor-1",
        },
        {
            "executed_at": "2026-11-23T10:00:11.620Z",
            "status": "success",
            "delay_seconds": 11.62,
            "retry_count": 1,
            "processing_time_ms": 3,
            "node_id": "executor-2",
        },
    ],
}


@router.get(
    "/{schedule_id}/attempts",
    responses={
        200: {"content": {"application/json": {"example": ATTEMPTS_EXAMPLE}}},
        404: {
            "model": Problem,
            "description": "Unknown schedule_id, or its event is no longer stored.",
            "content": {
                "application/json": {"example": {"detail": "no stored event 'reminder-123'"}}
            },
        },
        **NO_COLD_TIER,
        **error_responses(503),
    },
)
async def get_attempts(
    schedule_id: str,
    service: ServiceDep,
    analytics: AnalyticsDep,
    limit: int = Query(100, ge=1, le=1000),
) -> Attempts:
    """The schedule's delivery attempts as the execution results record them (the cold
    tier's `schedule_execution_results`, written within SCHEDULES_ANALYTICS_FLUSH_INTERVAL
    of each attempt)."""
    results = analytics()  # 409 without the cold tier
    ev = await service.get_event(schedule_id)
    if ev is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stored event {schedule_id!r}")
    # Attempts come after creation; a day's margin for clocks and replays of older rows.
    since = datetime.fromtimestamp(min(ev.created_at, ev.scheduled_at), UTC) - timedelta(days=1)
    return Attempts(
        schedule_id=schedule_id,
        attempts=await results.get_attempts(schedule_id, since, limit=limit),
    )


HISTORY_EXAMPLE = {
    "schedule_id": "reminder-123",
    "complete": True,
    "note": None,
    "entries": [
        {
            "at": "2026-11-23T09:00:00.120Z",
            "kind": "created",
            "detail": "created in the cold tier (ClickHouse), due 2026-11-23T09:30:00+00:00",
            "scheduled_at": "2026-11-23T09:30:00Z",
            "outcome": None,
            "error": None,
        },
        {
            "at": "2026-11-23T09:10:00.500Z",
            "kind": "rescheduled",
            "detail": "2026-11-23T09:30:00+00:00 rescheduled to 2026-11-23T10:00:00+00:00",
            "scheduled_at": "2026-11-23T09:30:00Z",
            "outcome": None,
            "error": None,
        },
        {
            "at": "2026-11-23T09:59:00.010Z",
            "kind": "transferred",
            "detail": "moved into Redis",
            "scheduled_at": "2026-11-23T10:00:00Z",
            "outcome": None,
            "error": None,
        },
        {
            "at": "2026-11-23T10:00:10.007Z",
            "kind": "attempt",
            "detail": "attempt 1: timeout (KafkaTimeoutError: not acknowledged within 10000 ms)",
            "scheduled_at": None,
            "outcome": "timeout",
            "error": "KafkaTimeoutError: not acknowledged within 10000 ms",
        },
        {
            "at": "2026-11-23T10:00:11.620Z",
            "kind": "attempt",
            "detail": "attempt 2: success",
            "scheduled_at": None,
            "outcome": "success",
            "error": None,
        },
        {
            "at": "2026-11-23T10:00:11.625Z",
            "kind": "executed",
            "detail": "published",
            "scheduled_at": "2026-11-23T10:00:00Z",
            "outcome": None,
            "error": None,
        },
    ],
}


@router.get(
    "/{schedule_id}/history",
    responses={
        200: {"content": {"application/json": {"example": HISTORY_EXAMPLE}}},
        404: {
            "model": Problem,
            "description": "Unknown schedule_id (or removed by the cleanup).",
            "content": {
                "application/json": {"example": {"detail": "unknown schedule 'reminder-123'"}}
            },
        },
        **error_responses(503),
    },
)
async def get_history(schedule_id: str, service: ServiceDep) -> ScheduleHistory:
    """What happened to the schedule, oldest first: created (and in which tier), each
    reschedule, its move into Redis, each delivery attempt, its current or final state.
    ClickHouse keeps only each row's latest version, so this is composed from what is
    stored; without the cold tier only what Redis holds now (`complete` false)."""
    found = await service.schedule_history(schedule_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown schedule {schedule_id!r}")
    return found
