"""Recurring schedules: /api/v1/recurring (scheduler.recurring)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import Authorized, ServiceDep
from api.errors import Problem, ValidationProblem, error_responses
from scheduler.recurring.model import (
    RECURRING_ID_PATTERN,
    RecurringDefinition,
    RecurringRequest,
    RecurringSpec,
)
from scheduler.recurring.schedules import MAX_PREVIEW
from scheduler.recurring.timing import Occurrence, to_datetime

router = APIRouter(prefix="/api/v1/recurring", tags=["recurring"])

RecurringId = Annotated[
    str, Path(pattern=RECURRING_ID_PATTERN, max_length=64, examples=["daily-report"])
]
Version = Annotated[
    int | None,
    Query(ge=0, description="Change only if the stored version is this one (else 409)."),
]
Count = Annotated[int, Query(ge=1, le=MAX_PREVIEW, description="How many occurrences.")]


class RecurringList(BaseModel):
    recurring: list[RecurringDefinition]


class PreviewOccurrence(BaseModel):
    schedule_id: str = Field(description="The occurrence's event id: <recurring_id>@<gen>@<s>.")
    nominal_at: datetime = Field(description="The rule's time.")
    scheduled_at: datetime = Field(description="When it fires: nominal_at plus its jitter.")


class Preview(BaseModel):
    recurring_id: str
    occurrences: list[PreviewOccurrence]


class RestoredAnswer(BaseModel):
    restored: int = Field(description="Definitions put back into Redis from the mirror.")
    kept: int = Field(description="Mirrored definitions Redis still had (left as they are).")


class Deleted(BaseModel):
    recurring_id: str
    version: int = Field(description="The version that was deleted.")


# --- OpenAPI examples (tests/api/test_openapi_examples.py posts every request example) -----

TEMPLATE = {"topic": "reports.daily", "body": {"report": "daily"}, "entity_type": "report"}
CREATE_EXAMPLES: dict[str, Any] = {
    "cron": {
        "summary": "Weekdays at 09:00 in Berlin",
        "value": {
            "recurring_id": "daily-report",
            "cron": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "event": TEMPLATE,
        },
    },
    "interval": {
        "summary": "Every 5 minutes, up to 30 s of jitter, missed ones fired once",
        "value": {
            "recurring_id": "heartbeat",
            "interval_seconds": 300,
            "jitter_seconds": 30,
            "catch_up": "latest",
            "event": {"topic": "service.heartbeat", "body": "ping", "priority": 5},
        },
    },
}
PREVIEW_EXAMPLES: dict[str, Any] = {
    "cron": {
        "summary": "Before saving: when would it fire?",
        "value": {"recurring_id": "try-it", "cron": "30 2 * * *", "timezone": "Europe/Berlin",
                  "event": TEMPLATE},
    }
}  # fmt: skip
DEFINITION_EXAMPLE = {
    "recurring_id": "daily-report",
    "cron": "0 9 * * 1-5",
    "timezone": "Europe/Berlin",
    "jitter_seconds": 0,
    "catch_up": "skip",
    "catch_up_limit": 10,
    "event": {
        "topic": "reports.daily",
        "body": {"report": "daily"},
        "entity_type": "report",
        "action": "",
        "headers": {},
        "priority": 0,
    },
    "version": 1,
    "generation": 1,
    "paused": False,
    "created_at": "2026-12-01T08:00:00Z",
    "updated_at": "2026-12-01T08:00:00Z",
}
PREVIEW_EXAMPLE = {
    "recurring_id": "daily-report",
    "occurrences": [
        {
            "schedule_id": "daily-report@1@1764921600",
            "nominal_at": "2026-12-02T08:00:00Z",
            "scheduled_at": "2026-12-02T08:00:00Z",
        }
    ],
}


def _json(example: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"example": example}}}


# OpenAPI links: what to do next with the recurring_id a POST answers (schemathesis's
# stateful phase follows them).
_BY_ID = {"parameters": {"recurring_id": "$response.body#/recurring_id"}}
_OP = "_api_v1_recurring__recurring_id_"
LINKS = {
    "GetRecurring": {"operationId": f"get_recurring{_OP}_get", **_BY_ID},
    "PreviewRecurring": {"operationId": f"preview_recurring{_OP}_preview_get", **_BY_ID},
    "PauseRecurring": {"operationId": f"pause_recurring{_OP}_pause_post", **_BY_ID},
    "DeleteRecurring": {"operationId": f"delete_recurring{_OP}_delete", **_BY_ID},
}


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "model": Problem,
        "description": "Unknown recurring_id.",
        **_json({"detail": "no recurring schedule 'daily-report'"}),
    }
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "description": "Another version is stored than `version` says, or (POST) another "
        "definition exists under this recurring_id.",
        **_json({"detail": "recurring schedule 'daily-report' is at version 3, not 2"}),
    }
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ValidationProblem,
        "description": "Not a valid definition: `field` names the first failing field "
        "(`event.<field>` for the template, refused as that event would be). Also for what "
        "the schema cannot state: an unknown time zone, a cron field out of range, end_at "
        "not after start_at, a template the event's limits refuse.",
        **_json({"detail": "timezone: unknown IANA time zone 'Mars/Olympus' (e.g. UTC, "
                 "Europe/Berlin)", "field": "timezone"}),
    }
}  # fmt: skip


def _preview(recurring_id: str, occurrences: list[Occurrence]) -> Preview:
    return Preview(
        recurring_id=recurring_id,
        occurrences=[
            PreviewOccurrence(
                schedule_id=o.schedule_id,
                nominal_at=to_datetime(o.nominal),
                scheduled_at=to_datetime(o.at),
            )
            for o in occurrences
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Authorized],
    responses={
        201: {"description": "Created; its first occurrences are scheduled.", "links": LINKS},
        200: {
            "model": RecurringDefinition,
            "description": "The same definition exists already; nothing changed.",
            **_json(DEFINITION_EXAMPLE),
            "links": LINKS,
        },
        **CONFLICT,
        **INVALID,
        **error_responses(401, 413, 503),
    },
)
async def create_recurring(
    req: Annotated[RecurringRequest, Body(openapi_examples=CREATE_EXAMPLES)],
    service: ServiceDep,
    response: Response,
) -> RecurringDefinition:
    """Create a recurring schedule. Each occurrence is an ordinary event with the
    schedule_id `<recurring_id>@<generation>@<unix seconds>`."""
    d, created = await service.create_recurring(req)
    if not created:
        response.status_code = status.HTTP_200_OK
    return d


@router.get("", responses={200: _json({"recurring": [DEFINITION_EXAMPLE]}), **error_responses(503)})
async def list_recurring(service: ServiceDep) -> RecurringList:
    """Every recurring schedule, by recurring_id."""
    return RecurringList(recurring=await service.list_recurring())


@router.post(
    "/preview",
    responses={200: _json(PREVIEW_EXAMPLE), **INVALID, **error_responses(413, 503)},
)
async def preview_unsaved(
    req: Annotated[RecurringRequest, Body(openapi_examples=PREVIEW_EXAMPLES)],
    service: ServiceDep,
    count: Count = 10,
) -> Preview:
    """The next occurrences of a definition that is not stored (nothing is saved)."""
    return _preview(req.recurring_id, await service.preview_recurring(req, count))


@router.post(
    "/restore",
    dependencies=[Authorized],
    responses={
        200: _json({"restored": 3, "kept": 0}),
        409: {
            "model": Problem,
            "description": "The cold tier (and so the mirror) is disabled.",
            **_json({"detail": "restoring recurring schedules needs the cold tier's mirror "
                     "(SCHEDULES_COLD_TIER_ENABLED=false)"}),
        },
        **error_responses(401, 503),
    },
)  # fmt: skip
async def restore_recurring(service: ServiceDep) -> RestoredAnswer:
    """After Redis lost its data: put back the definitions the cold tier's ClickHouse
    mirror has and Redis has not (with their version and generation); their occurrences
    are materialised from now on."""
    r = await service.restore_recurring()
    return RestoredAnswer(restored=r.restored, kept=r.kept)


@router.get(
    "/{recurring_id}",
    responses={200: _json(DEFINITION_EXAMPLE), **NOT_FOUND, **error_responses(503)},
)
async def get_recurring(recurring_id: RecurringId, service: ServiceDep) -> RecurringDefinition:
    """One recurring schedule."""
    return await service.get_recurring(recurring_id)


@router.put(
    "/{recurring_id}",
    dependencies=[Authorized],
    responses={
        200: {"description": "Stored; its pending occurrences were replaced.",
              **_json(DEFINITION_EXAMPLE | {"version": 2, "generation": 2})},
        **CONFLICT,
        **INVALID,
        **error_responses(401, 413, 503),
    },
)  # fmt: skip
async def put_recurring(
    recurring_id: RecurringId,
    spec: RecurringSpec,
    service: ServiceDep,
    version: Version = None,
) -> RecurringDefinition:
    """Create or replace a recurring schedule. Its not-yet-fired occurrences are replaced
    atomically (cancelled, and the new definition's scheduled under a new generation); an
    unchanged definition changes nothing. `version`: only if that is the stored one."""
    req = RecurringRequest.model_validate(spec.model_dump() | {"recurring_id": recurring_id})
    return await service.update_recurring(req, expected_version=version, create=True)


@router.delete(
    "/{recurring_id}",
    dependencies=[Authorized],
    responses={
        200: _json({"recurring_id": "daily-report", "version": 3}),
        **NOT_FOUND,
        **CONFLICT,
        **error_responses(401, 503),
    },
)
async def delete_recurring(
    recurring_id: RecurringId, service: ServiceDep, version: Version = None
) -> Deleted:
    """Delete a recurring schedule and cancel its pending occurrences."""
    d = await service.delete_recurring(recurring_id, expected_version=version)
    return Deleted(recurring_id=recurring_id, version=d.version)


@router.post(
    "/{recurring_id}/pause",
    dependencies=[Authorized],
    responses={
        200: _json(DEFINITION_EXAMPLE | {"paused": True, "paused_at": "2026-12-01T09:30:00Z"}),
        **NOT_FOUND,
        **error_responses(401, 503),
    },
)
async def pause_recurring(recurring_id: RecurringId, service: ServiceDep) -> RecurringDefinition:
    """Stop materialising; pending occurrences are cancelled. Pausing again changes nothing."""
    return await service.pause_recurring(recurring_id)


@router.post(
    "/{recurring_id}/resume",
    dependencies=[Authorized],
    responses={200: _json(DEFINITION_EXAMPLE), **NOT_FOUND, **error_responses(401, 503)},
)
async def resume_recurring(recurring_id: RecurringId, service: ServiceDep) -> RecurringDefinition:
    """Materialise again; occurrences missed while paused follow its catch-up policy."""
    return await service.resume_recurring(recurring_id)


@router.get(
    "/{recurring_id}/preview",
    responses={200: _json(PREVIEW_EXAMPLE), **NOT_FOUND, **error_responses(503)},
)
async def preview_recurring(
    recurring_id: RecurringId, service: ServiceDep, count: Count = 10
) -> Preview:
    """The next `count` occurrences of a stored definition, as they will fire."""
    return _preview(recurring_id, await service.preview_recurring(recurring_id, count))
