"""Schedule, inspect and cancel events: /api/v1/schedules."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Response, status
from pydantic import BaseModel, Field

from api.deps import Authorized, ServiceDep, SettingsDep
from api.errors import Problem, ValidationProblem, error_responses
from api.fastjson import FastJsonRoute
from scheduler import metrics
from scheduler.bulk import ItemResult
from scheduler.cold.status import ScheduleStatus
from scheduler.errors import InvalidEvent, ScheduleConflict
from scheduler.models import Event, OnConflict, RescheduleRequest, ScheduleRequest, utc_datetime
from scheduler.router import Stored
from scheduler.service import SchedulerService

log = logging.getLogger(__name__)
# Batches of 1,000 events are 600 kB of JSON: parsed by orjson where it reads them alike.
router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"], route_class=FastJsonRoute)

FINISHED = {"executed", "skipped", "error"}


class Scheduled(BaseModel):
    schedule_id: str = Field(examples=["reminder-123"])
    tier: str = Field(description="hot (Redis) or cold (ClickHouse).", examples=["hot"])
    scheduled_at: datetime
    created: bool = Field(description="false: the schedule_id was already scheduled.")
    replaced: bool = Field(
        default=False,
        description="true: on_conflict=replace, and the pending event under this "
        "schedule_id became this one.",
    )


class RescheduledSchedule(BaseModel):
    """What PATCH answers: the schedule as it is now stored."""

    schedule_id: str = Field(examples=["reminder-123"])
    tier: str = Field(description="hot (Redis) or cold (ClickHouse), now.", examples=["hot"])
    scheduled_at: datetime = Field(description="The new time.")
    previous_tier: str = Field(description="Where it was before.", examples=["cold"])
    previous_scheduled_at: datetime = Field(description="Its time before.")


class BatchRequest(BaseModel):
    events: list[Any] = Field(description="Schedule requests; each is validated on its own.")


class BatchItem(BaseModel):
    index: int
    ok: bool
    schedule_id: str | None = None
    tier: str | None = None
    scheduled_at: datetime | None = None
    created: bool | None = None
    replaced: bool | None = None
    error: str | None = None
    field: str | None = None


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchItem]


class Cancelled(BaseModel):
    schedule_id: str
    cancelled: str = Field(description="pending, or in_flight (it may have been published).")


def _json(example: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"example": example}}}


# --- OpenAPI examples (tests/api/test_openapi_examples.py posts every request example) -----

AT = "2030-01-01T09:00:00Z"
SCHEDULE_EXAMPLES: dict[str, Any] = {
    "delay": {
        "summary": "In 60 seconds",
        "value": {"topic": "user.notifications", "body": {"user_id": 123}, "delay_seconds": 60},
    },
    "at": {
        "summary": "At a fixed time (beyond the horizon: the cold tier keeps it until then)",
        "value": {"topic": "user.notifications", "body": "Happy new year!", "scheduled_at": AT},
    },
    "idempotent": {
        "summary": "With an idempotency key, headers and a priority",
        "description": "Sending it again answers 200 with the existing schedule.",
        "value": {
            "topic": "user.notifications",
            "body": {"user_id": 123, "template": "reminder"},
            "delay_seconds": 3600,
            "schedule_id": "reminder-123",
            "entity_type": "user",
            "action": "send_reminder",
            "correlation_id": "signup-123",
            "headers": {"content-type": "application/json", "source": "signup"},
            "priority": 10,
            "max_delay_seconds": 600,
        },
    },
}
SCHEDULE_EXAMPLES["replace"] = {
    "summary": "Debounce: replace the pending event under this schedule_id",
    "description": "A pending event under `cart-42` gets this time and body (200, "
    "replaced: true); without one, it is scheduled (201). 409 while it is being published.",
    "value": {
        "topic": "cart.reminders",
        "body": {"cart_id": 42},
        "delay_seconds": 900,
        "schedule_id": "cart-42",
        "on_conflict": "replace",
    },
}
RESCHEDULE_EXAMPLES: dict[str, Any] = {
    "delay": {
        "summary": "Ten minutes from now",
        "value": {"delay_seconds": 600},
    },
    "at": {
        "summary": "At a fixed time, with a new body and priority",
        "value": {"scheduled_at": AT, "body": {"user_id": 123, "retry": True}, "priority": 5},
    },
}
RESCHEDULED_EXAMPLE = {
    "schedule_id": "reminder-123",
    "tier": "hot",
    "scheduled_at": "2026-11-23T10:10:00Z",
    "previous_tier": "cold",
    "previous_scheduled_at": "2026-12-24T18:00:00Z",
}
BATCH_EXAMPLES: dict[str, Any] = {
    "two": {
        "summary": "Two events",
        "value": {
            "events": [
                {"topic": "user.notifications", "body": {"user_id": 1}, "delay_seconds": 5},
                {"topic": "user.notifications", "body": {"user_id": 2}, "scheduled_at": AT},
            ]
        },
    }
}
SCHEDULED_EXAMPLE = {
    "schedule_id": "reminder-123",
    "tier": "hot",
    "scheduled_at": "2026-11-23T10:00:00Z",
    "created": True,
}
# Waiting in Redis for its second attempt. (No nulls in examples: FastAPI drops them.)
STATUS_EXAMPLE = {
    "schedule_id": "reminder-123",
    "status": "scheduled",
    "tier": "hot",
    "scheduled_at": "2026-11-23T10:00:00Z",
    "topic": "user.notifications",
    "entity_type": "user",
    "action": "send_reminder",
    "correlation_id": "signup-123",
    "priority": 10,
    "attempts": 1,
    "error": "KafkaTimeoutError: not acknowledged within 10000 ms",
    "hot_state": "pending",
    "processing_started_at": "2026-11-23T10:00:00.004Z",
    "updated_at": "2026-11-23T10:00:10.007Z",
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "model": Problem,
        "description": "Unknown schedule_id.",
        "content": {"application/json": {"example": {"detail": "no schedule 'reminder-123'"}}},
    }
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ValidationProblem,
        "description": "Not a valid event: `field` names the first failing field. Also for "
        "what the schema cannot state: a body larger than SCHEDULES_MAX_BODY_BYTES as "
        "published, or with integers beyond 64 bits or nested deeper than 254 levels; headers "
        "over SCHEDULES_MAX_HEADER_BYTES in total; a scheduled time (now + delay_seconds) "
        "after 9999-12-31; beyond SCHEDULES_IMMEDIATE_HORIZON_SECONDS without the cold tier.",
        "content": {
            "application/json": {
                "example": {
                    "detail": "delay_seconds: Input should be greater than or equal to 0",
                    "field": "delay_seconds",
                    "errors": [
                        {
                            "field": "delay_seconds",
                            "message": "Input should be greater than or equal to 0",
                        }
                    ],
                }
            }
        },
    }
}


# OpenAPI links: what to do next with the schedule_id a POST answers (schemathesis's
# stateful phase follows them).
_BY_ID = {"parameters": {"schedule_id": "$response.body#/schedule_id"}}
LINKS = {
    "GetSchedule": {
        "operationId": "get_schedule_api_v1_schedules__schedule_id__get",
        "description": "Its status.",
        **_BY_ID,
    },
    "CancelSchedule": {
        "operationId": "cancel_schedule_api_v1_schedules__schedule_id__delete",
        "description": "Cancel it.",
        **_BY_ID,
    },
    "RescheduleSchedule": {
        "operationId": "reschedule_api_v1_schedules__schedule_id__patch",
        "description": "Give it a new time.",
        **_BY_ID,
    },
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "description": "In flight (an executor is publishing it) or already finished "
        "(executed, skipped, error, cancelled): it can no longer be changed.",
        **_json(
            {
                "detail": "schedule 'reminder-123' is in flight (an executor is publishing it "
                "now); it can no longer be changed"
            }
        ),
    }
}


async def _answer(service: SchedulerService, ev: Event, stored: Stored) -> Scheduled:
    """What POST answers for one stored event: the new schedule, or the existing one."""
    if stored.conflict is not None:
        raise ScheduleConflict(stored.conflict, state="in_flight")
    if stored.replaced:
        return Scheduled(
            schedule_id=ev.schedule_id,
            tier=stored.tier.value,
            scheduled_at=(await _stored_at(service, ev)),
            created=False,
            replaced=True,
        )
    if not stored.added:
        found = await service.get_status(ev.schedule_id)
        if found is not None:
            return Scheduled(
                schedule_id=ev.schedule_id,
                tier=found.tier,
                scheduled_at=found.scheduled_at,
                created=False,
            )
        # Not visible (a cold row still in the journal buffer): say what was asked.
    return Scheduled(
        schedule_id=ev.schedule_id,
        tier=stored.tier.value,
        scheduled_at=ev.scheduled_at_datetime,
        created=stored.added,
    )


async def _stored_at(service: SchedulerService, ev: Event) -> datetime:
    """The time a replaced event is stored at (1 µs later than asked if its id had a row
    at that very time: scheduler.rescheduling)."""
    found = await service.get_status(ev.schedule_id)
    return ev.scheduled_at_datetime if found is None else found.scheduled_at


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Authorized],
    responses={
        201: {"description": "Scheduled.", **_json(SCHEDULED_EXAMPLE), "links": LINKS},
        200: {
            "model": Scheduled,
            "description": "Already scheduled under this schedule_id: nothing was added "
            "(on_conflict=keep), or the pending event became this one (replace).",
            **_json(SCHEDULED_EXAMPLE | {"created": False}),
            "links": LINKS,
        },
        **INVALID,
        **CONFLICT,
        **error_responses(401, 413, 503),
    },
)
async def create_schedule(
    req: Annotated[ScheduleRequest, Body(openapi_examples=SCHEDULE_EXAMPLES)],
    service: ServiceDep,
    response: Response,
) -> Scheduled:
    """Schedule one event. Sending a `schedule_id` that is already scheduled returns the
    existing schedule with 200 instead of adding a second event; with
    `on_conflict: replace`, a pending one becomes this event (200, `replaced`)."""
    now = time.time()
    try:
        ev = service.prepare(req, now)
    except InvalidEvent:
        metrics.EVENTS_REJECTED.labels("http").inc()
        raise
    replace = [req.on_conflict is OnConflict.REPLACE]
    (stored,) = await service.store_events([ev], now, source="http", replace=replace)
    result = await _answer(service, ev, stored)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result


@router.post(
    "/batch",
    dependencies=[Authorized],
    response_model=BatchResult,
    responses={
        200: _json(
            {
                "accepted": 1,
                "rejected": 1,
                "results": [
                    {"index": 0, "ok": True, **SCHEDULED_EXAMPLE},
                    {
                        "index": 1,
                        "ok": False,
                        "error": "delay_seconds: Input should be greater than or equal to 0",
                        "field": "delay_seconds",
                    },
                ],
            }
        ),
        **error_responses(401, 413, 503),
    },
)
async def create_batch(
    batch: Annotated[BatchRequest, Body(openapi_examples=BATCH_EXAMPLES)],
    service: ServiceDep,
    settings: SettingsDep,
) -> Response:
    """Schedule up to SCHEDULES_API_MAX_BATCH events; one result per item, in order. A bad
    item is reported in its result and does not stop the others."""
    if len(batch.events) > settings.api_max_batch:
        raise InvalidEvent(
            f"{len(batch.events)} events; the limit is {settings.api_max_batch}", field="events"
        )
    # SchedulerService.schedule_events, as the Python API's bulk call: the fast path for
    # the common item, the model for the rest and for every error's words.
    objects = [i for i, item in enumerate(batch.events) if type(item) is dict]
    done = await service.schedule_events((batch.events[i] for i in objects), source="http")
    results: list[dict[str, Any] | None] = [None] * len(batch.events)
    times: dict[float, datetime] = {}  # a chunk's items with one delay share their time
    for j, (i, new) in enumerate(zip(objects, done.stored_new(), strict=True)):
        if new is None:  # refused, known or replaced: the rare answers
            results[i] = await _batch_item(service, i, done[j])
            continue
        _, sid, tier, at = new
        when = times.get(at)
        if when is None:
            when = times[at] = utc_datetime(at)
        results[i] = {
            "index": i,
            "ok": True,
            "schedule_id": sid,
            "tier": tier.value,
            "scheduled_at": when,
            "created": True,
            "replaced": False,
            "error": None,
            "field": None,
        }
    if len(objects) < len(results):
        metrics.EVENTS_REJECTED.labels("http").inc(len(results) - len(objects))
        for i, item in enumerate(results):
            if item is None:
                results[i] = _NOT_AN_OBJECT | {"index": i}
    accepted = done.accepted
    answer = {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
    try:
        content = orjson.dumps(answer, option=orjson.OPT_UTC_Z)  # as pydantic writes it
    except orjson.JSONEncodeError:  # text orjson refuses (a lone surrogate): pydantic's way
        content = BatchResult.model_validate(answer).model_dump_json().encode()
    return Response(content, media_type="application/json")


# Every BatchItem field, in BatchItem's order, so the answer is what the model would write.
_NOT_AN_OBJECT: dict[str, Any] = BatchItem(
    index=0, ok=False, error="must be a JSON object", field=None
).model_dump()


async def _batch_item(service: SchedulerService, i: int, one: ItemResult) -> dict[str, Any]:
    if one.error is not None:
        return BatchItem(
            index=i, ok=False, schedule_id=one.schedule_id, error=one.error, field=one.field
        ).model_dump()
    assert one.schedule_id is not None and one.tier is not None and one.scheduled_at is not None
    tier, at = one.tier.value, utc_datetime(one.scheduled_at)
    if one.replaced or not one.added:  # what is stored now: that schedule's tier and time
        found = await service.get_status(one.schedule_id)
        if found is not None:
            tier, at = (found.tier if not one.replaced else tier), found.scheduled_at
        # Not visible (a cold row still in the journal buffer): say what was asked.
    return {
        "index": i,
        "ok": True,
        "schedule_id": one.schedule_id,
        "tier": tier,
        "scheduled_at": at,
        "created": one.added,
        "replaced": one.replaced,
        "error": None,
        "field": None,
    }


@router.get(
    "/{schedule_id}",
    responses={200: _json(STATUS_EXAMPLE), **NOT_FOUND, **error_responses(503)},
)
async def get_schedule(schedule_id: str, service: ServiceDep) -> ScheduleStatus:
    """Where the schedule is and what happened to it."""
    found = await service.get_status(schedule_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule {schedule_id!r}")
    return found


@router.delete(
    "/{schedule_id}",
    dependencies=[Authorized],
    responses={
        200: {
            **_json({"schedule_id": "reminder-123", "cancelled": "pending"}),
            "links": {"GetSchedule": LINKS["GetSchedule"]},
        },
        **NOT_FOUND,
        409: {
            "model": Problem,
            "description": "Already executed, cancelled or otherwise finished.",
            **_json({"detail": "schedule 'reminder-123' is already executed"}),
        },
        **error_responses(401, 503),
    },
)
async def cancel_schedule(schedule_id: str, service: ServiceDep) -> Cancelled:
    """Cancel a schedule in either tier."""
    result = await service.cancel_event(schedule_id)
    if result:
        return Cancelled(schedule_id=schedule_id, cancelled=result.value)
    found = await service.get_status(schedule_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no schedule {schedule_id!r}")
    raise HTTPException(
        status.HTTP_409_CONFLICT, f"schedule {schedule_id!r} is already {found.status}"
    )


@router.patch(
    "/{schedule_id}",
    dependencies=[Authorized],
    responses={
        200: {
            **_json(RESCHEDULED_EXAMPLE),
            "links": {"GetSchedule": LINKS["GetSchedule"]},
        },
        **NOT_FOUND,
        **CONFLICT,
        **INVALID,
        **error_responses(401, 413, 503),
    },
)
async def reschedule(
    schedule_id: str,
    req: Annotated[RescheduleRequest, Body(openapi_examples=RESCHEDULE_EXAMPLES)],
    service: ServiceDep,
) -> RescheduledSchedule:
    """Give a pending event a new time (exactly one of `scheduled_at` / `delay_seconds`)
    and optionally a new body, headers or priority, atomically, in either tier; its
    schedule_id stays. 409 once it is in flight or finished."""
    done = await service.reschedule_request(schedule_id, req)
    return RescheduledSchedule(
        schedule_id=schedule_id,
        tier=done.tier.value,
        scheduled_at=done.event.scheduled_at_datetime,
        previous_tier=done.previous_tier.value,
        previous_scheduled_at=done.previous.scheduled_at_datetime,
    )
