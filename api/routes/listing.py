"""List and search schedules: GET /api/v1/schedules (scheduler.listing)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import ServiceDep
from api.errors import ValidationProblem, error_responses
from api.schemas.monitoring import IN_RANGE, in_range
from scheduler.cold.records import Tier
from scheduler.errors import InvalidEvent
from scheduler.listing import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, SchedulePage, State

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])

# No nulls in examples (FastAPI drops them): a page with a next one.
ITEM_EXAMPLE = {
    "schedule_id": "reminder-123",
    "status": "scheduled",
    "hot_state": "in_flight",
    "tier": "hot",
    "scheduled_at": "2026-11-23T10:00:00Z",
    "topic": "user.notifications",
    "entity_type": "user",
    "action": "send_reminder",
    "priority": 10,
    "attempts": 1,
    "error": "KafkaTimeoutError: not acknowledged within 10000 ms",
    "correlation_id": "signup-123",
    "created_at": "2026-11-23T09:00:00.012Z",
    "updated_at": "2026-11-23T10:00:10.007Z",
}
PAGE_EXAMPLE = {
    "items": [ITEM_EXAMPLE],
    "next_cursor": "1795428000000000.reminder-123",
    "counts": {
        "pending": 1200,
        "processing": 0,
        "scheduled": 35,
        "executed": 9800,
        "skipped": 2,
        "error": 1,
        "cancelled": 14,
    },
    "counts_exact": True,
    "source": "clickhouse",
    "limit": 1,
    "examined": 2,
}
BAD_QUERY_EXAMPLE = {
    "detail": "cursor: String should match pattern '^-?[0-9]{1,16}\\.[A-Za-z0-9._:@-]{1,128}$'",
    "field": "cursor",
    "errors": [
        {
            "field": "cursor",
            "message": "String should match pattern '^-?[0-9]{1,16}\\.[A-Za-z0-9._:@-]{1,128}$'",
        }
    ],
}


def _json(example: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"example": example}}}


@router.get(
    "",
    responses={
        200: _json(PAGE_EXAMPLE),
        422: {
            "model": ValidationProblem,
            "description": "Bad input: a parameter against its schema (a cursor this API did "
            "not return, a limit out of 1..1000, an unknown status), or `from` not before "
            "`to`. `field` names the parameter.",
            **_json(BAD_QUERY_EXAMPLE),
        },
        **error_responses(503),
    },
)
async def list_schedules(
    service: ServiceDep,
    status: Annotated[
        list[State] | None,
        Query(description="Keep these statuses (repeat for several); default: every one."),
    ] = None,
    tier: Annotated[Tier | None, Query(description="hot (Redis) or cold (ClickHouse).")] = None,
    topic: Annotated[str | None, Query(description="Exactly this Kafka topic.")] = None,
    entity_type: Annotated[str | None, Query(description="Exactly this entity type.")] = None,
    action: Annotated[str | None, Query(description="Exactly this action.")] = None,
    scheduled_from: Annotated[
        datetime | None,
        Query(
            alias="from",
            description="scheduled_at at or after this (years 1971-2200).",
            json_schema_extra={"pattern": IN_RANGE},
        ),
    ] = None,
    scheduled_to: Annotated[
        datetime | None,
        Query(
            alias="to",
            description="scheduled_at before this; after `from`.",
            json_schema_extra={"pattern": IN_RANGE},
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Schedules per page, at most {MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="The previous page's `next_cursor` (opaque); none: the first page.",
        ),
    ] = None,
    counts: Annotated[
        bool, Query(description="Also count what the filters match, by status.")
    ] = True,
) -> SchedulePage:
    """Schedules passing the filters, earliest `scheduled_at` first, one page at a time:
    pass `next_cursor` back as `cursor`. Paging is by key (scheduled_at, schedule_id), so
    events arriving meanwhile never shift a page. With the cold tier, every schedule
    ClickHouse journals plus what this process has not written yet, with Redis's live
    state; without it, the events Redis holds (README, "Listing and searching schedules")."""
    start = None if scheduled_from is None else in_range(scheduled_from, "from")
    end = None if scheduled_to is None else in_range(scheduled_to, "to")
    if start is not None and end is not None and start >= end:
        raise InvalidEvent("from must be before to", field="from")
    return await service.list_schedules(
        status=[s.value for s in status or ()],
        tier=None if tier is None else tier.value,
        topic=topic,
        entity_type=entity_type,
        action=action,
        scheduled_from=start,
        scheduled_to=end,
        limit=limit,
        cursor=cursor,
        counts=counts,
    )
