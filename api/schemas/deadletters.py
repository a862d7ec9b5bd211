"""The replay request of POST /api/v1/dead-letters/replay, and the OpenAPI examples of
api.routes.deadletters. The answers are the core's own types (scheduler.deadletters.model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.monitoring import IN_RANGE, in_range
from scheduler.deadletters.model import DEFAULT_LIMIT, MAX_LIMIT, Mode, Reason, Source
from scheduler.errors import InvalidEvent
from scheduler.models import TOPIC_PATTERN, is_legal_topic

MAX_ID = 300  # `c:` + microseconds + a schedule_id of 128, with room


def _patterns(schema: dict[str, Any]) -> None:
    """The string branch of the optional `topic`, `since`, `until`: their patterns."""
    props = schema["properties"]
    for name, pattern in (("topic", TOPIC_PATTERN), ("since", IN_RANGE), ("until", IN_RANGE)):
        for branch in props[name]["anyOf"]:
            if branch.get("type") == "string":
                branch["pattern"] = pattern
                if name == "topic":
                    branch.update(minLength=1, maxLength=249)


class ReplayRequest(BaseModel):
    """The dead letters `ids` names (as listed), else those the filters match (newest
    first, at most `limit`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_patterns)

    ids: list[Annotated[str, Field(min_length=1, max_length=MAX_ID)]] | None = Field(
        None,
        max_length=MAX_LIMIT,
        description="Dead letters to replay, by the `id` the listing gives.",
    )
    reason: Reason | None = None
    topic: str | None = Field(None, description="The events' target topic.")
    source: Source = Source.ALL
    since: datetime | None = Field(None, description="Dead-lettered at or after this time.")
    until: datetime | None = Field(None, description="Dead-lettered at or before this time.")
    limit: int = Field(
        DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, strict=True, description="Most replayed by filter."
    )
    mode: Mode = Field(
        Mode.SAME_ID,
        description="same_id: a new attempt of the same schedule_id; new_id: a new event "
        "(`r-` and a hash of the dead letter: the same id on every replay).",
    )
    dry_run: bool = Field(
        False, strict=True, description="Only report what would be replayed; change nothing."
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str | None) -> str | None:
        if v is not None and not is_legal_topic(v):
            raise ValueError("must be a legal Kafka topic name")
        return v

    @field_validator("since", "until")
    @classmethod
    def _time(cls, v: datetime | None, info: Any) -> datetime | None:
        if v is None:
            return None
        try:
            return in_range(v, info.field_name)
        except InvalidEvent as exc:
            raise ValueError(str(exc)) from None

    @field_validator("limit", mode="before")
    @classmethod
    def _integral(cls, v: Any) -> Any:
        """5.0 is an integer to JSON Schema (and JSON)."""
        return int(v) if isinstance(v, float) and v.is_integer() else v


# --- examples ----------------------------------------------------------------------------

_AT = "2026-11-23T09:00:01.512000+00:00"

LIST_EXAMPLE: dict[str, Any] = {
    "items": [
        {
            "id": "c:1763888400000000:reminder-123",
            "sources": ["cold", "topic"],
            "stage": "publish",
            "reason": "retries_exhausted",
            "error": "retries_exhausted: 5 attempts failed",
            "dead_lettered_at": _AT,
            "topic": "user.notifications",
            "schedule_id": "reminder-123",
            "scheduled_at": "2026-11-23T09:00:00+00:00",
            "entity_type": "user",
            "action": "send_reminder",
            "attempts": 5,
            "body_bytes": 36,
            "partition": 0,
            "offset": 41,
            "replayable": True,
            "not_replayable_reason": None,
            "replayed_as": None,
        },
        {
            "id": "t:2:17",
            "sources": ["topic"],
            "stage": "ingest",
            "reason": "invalid",
            "error": "delay_seconds: give exactly one of scheduled_at or delay_seconds",
            "dead_lettered_at": "2026-11-23T08:59:12.004000+00:00",
            "topic": "delayed_events",
            "schedule_id": None,
            "scheduled_at": None,
            "entity_type": None,
            "action": None,
            "attempts": None,
            "body_bytes": 27,
            "partition": 2,
            "offset": 17,
            "replayable": False,
            "not_replayable_reason": "invalid envelope: delay_seconds: give exactly one of "
            "scheduled_at or delay_seconds",
            "replayed_as": None,
        },
    ],
    "count": 2,
    "scanned": 2,
    "complete": True,
    "cold_tier": True,
}

REPLAY_EXAMPLES: dict[str, Any] = {
    "by_ids": {
        "summary": "Replay listed dead letters as new attempts of their schedule_ids",
        "value": {"ids": ["c:1763888400000000:reminder-123", "t:2:17"]},
    },
    "dry_run_by_filter": {
        "summary": "What would replaying a topic's exhausted events do?",
        "value": {
            "reason": "retries_exhausted",
            "topic": "user.notifications",
            "limit": 50,
            "dry_run": True,
        },
    },
}

REPLAY_EXAMPLE: dict[str, Any] = {
    "dry_run": False,
    "mode": "same_id",
    "selected": 2,
    "replayed": 1,
    "would_replay": 0,
    "skipped": 1,
    "items": [
        {
            "id": "c:1763888400000000:reminder-123",
            "outcome": "replayed",
            "schedule_id": "reminder-123",
            "original_schedule_id": "reminder-123",
            "topic": "user.notifications",
            "scheduled_at": "2026-11-23T09:30:00.120000+00:00",
            "detail": None,
        },
        {
            "id": "t:2:17",
            "outcome": "not_replayable",
            "schedule_id": None,
            "original_schedule_id": None,
            "topic": "delayed_events",
            "scheduled_at": None,
            "detail": "invalid envelope: delay_seconds: give exactly one of scheduled_at or "
            "delay_seconds",
        },
    ],
}
