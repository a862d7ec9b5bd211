"""GET /api/v1/schedules/{schedule_id}/event: a schedule's event as stored, body and
headers included (the console's schedule page). Bodies may be confidential, so with
SCHEDULES_API_TOKEN set this read needs the token (or the console's session)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from api.deps import Authorized, ServiceDep
from api.errors import Problem, error_responses
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
