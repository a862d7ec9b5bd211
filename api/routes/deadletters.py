"""Dead letters: GET /api/v1/dead-letters (list) and POST /api/v1/dead-letters/replay.
The request model and the examples are in api.schemas.deadletters; the work is the
service's (SchedulerService.list_dead_letters / replay_dead_letters)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query

from api.deps import Authorized, ServiceDep
from api.errors import error_responses
from api.schemas.deadletters import LIST_EXAMPLE, REPLAY_EXAMPLE, REPLAY_EXAMPLES, ReplayRequest
from api.schemas.monitoring import IN_RANGE, in_range
from scheduler.deadletters.model import DEFAULT_LIMIT, MAX_LIMIT, Page, Reason, ReplayResult, Source
from scheduler.errors import InvalidEvent
from scheduler.models import TOPIC_PATTERN, is_legal_topic

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])


@router.get(
    "",
    responses={
        200: {"content": {"application/json": {"example": LIST_EXAMPLE}}},
        **error_responses(503),
    },
)
async def list_dead_letters(
    service: ServiceDep,
    reason: Reason | None = None,
    topic: Annotated[
        str | None,
        Query(
            description="The events' target topic.",
            json_schema_extra={"pattern": TOPIC_PATTERN, "minLength": 1, "maxLength": 249},
        ),
    ] = None,
    source: Source = Source.ALL,
    since: Annotated[
        datetime | None,
        Query(
            description="Dead-lettered at or after this time.",
            json_schema_extra={"pattern": IN_RANGE},
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(
            description="Dead-lettered at or before this time.",
            json_schema_extra={"pattern": IN_RANGE},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page:
    """Dead letters, newest first: the dead-letter topic's messages (a bounded read: at
    most SCHEDULES_DEAD_LETTER_SCAN_LIMIT of the newest in the window; `complete` says
    whether that was all) and, with the cold tier, the events that ended in `error`. Each
    item's `id` selects it for POST /api/v1/dead-letters/replay."""
    if topic is not None and not is_legal_topic(topic):
        raise InvalidEvent("topic: must be a legal Kafka topic name", field="topic")
    return await service.list_dead_letters(
        reason=reason,
        topic=topic,
        source=source,
        since=None if since is None else in_range(since, "since"),
        until=None if until is None else in_range(until, "until"),
        limit=limit,
    )


@router.post(
    "/replay",
    dependencies=[Authorized],
    responses={
        200: {"content": {"application/json": {"example": REPLAY_EXAMPLE}}},
        **error_responses(401, 413, 503),
    },
)
async def replay_dead_letters(
    service: ServiceDep,
    request: Annotated[ReplayRequest, Body(openapi_examples=REPLAY_EXAMPLES)],
) -> ReplayResult:
    """Schedule dead letters again, as new attempts of their schedule_ids (`same_id`) or
    as new events (`new_id`), and say per item what happened: `replayed`, `would_replay`
    (dry run), `already_replayed` (a dead letter is replayed once, however often asked),
    `already_scheduled` (a live schedule holds that schedule_id), `not_replayable` (no
    event to recover, e.g. an invalid envelope: `detail` says why) or `not_found`."""
    return await service.replay_dead_letters(
        request.ids,
        reason=request.reason,
        topic=request.topic,
        source=request.source,
        since=request.since,
        until=request.until,
        limit=request.limit,
        mode=request.mode,
        dry_run=request.dry_run,
    )
