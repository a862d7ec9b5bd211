"""Request and response models of /api/v1/schedules/monitoring/rate-limits (api.routes.
ratelimits), with their OpenAPI examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.errors import Problem
from scheduler.settings import MAX_BURST, MAX_RATE, MIN_RATE


class RateLimitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events_per_second: float = Field(
        ge=MIN_RATE,
        le=MAX_RATE,
        strict=True,
        allow_inf_nan=False,
        description="At most this many events fire to the topic per second (on average).",
    )
    burst: float | None = Field(
        None,
        ge=1,
        le=MAX_BURST,
        strict=True,
        allow_inf_nan=False,
        description="At most this many fire at once after a quiet period (the token "
        "bucket's size). Default: one second's worth, at least one.",
    )


class Limit(BaseModel):
    events_per_second: float
    burst: float


class RateLimitInfo(BaseModel):
    """The limit in force for one topic."""

    topic: str
    events_per_second: float
    burst: float = Field(description="The bucket's size (the default filled in).")
    source: Literal["settings", "runtime"] = Field(
        description="settings: SCHEDULES_TOPIC_RATE_LIMITS; runtime: set through the APIs "
        "(overrides the setting)."
    )
    throttled: int = Field(description="Due events of the topic waiting for a token now.")
    since: datetime | None = Field(None, description="When it was set (runtime).")
    overrides: Limit | None = Field(
        None, description="The SCHEDULES_TOPIC_RATE_LIMITS entry a runtime limit overrides."
    )


class RateLimits(BaseModel):
    """Every limit in force (also `rate_limits` in stats)."""

    limits: list[RateLimitInfo]
    throttled: int = Field(description="Due events waiting for a token, all topics.")


class RateLimitCleared(BaseModel):
    topic: str
    cleared: bool = Field(description="The runtime limit was removed.")
    limit: RateLimitInfo | None = Field(
        description="What applies now: the topic's SCHEDULES_TOPIC_RATE_LIMITS entry, or "
        "null (no limit: its waiting events fire at once)."
    )


PUT_EXAMPLES: dict[str, Any] = {
    "rate": {"summary": "200 events per second", "value": {"events_per_second": 200}},
    "burst": {
        "summary": "50 per second, up to 500 at once",
        "value": {"events_per_second": 50, "burst": 500},
    },
}
LIMIT_EXAMPLE = {
    "topic": "orders",
    "events_per_second": 200.0,
    "burst": 200.0,
    "source": "runtime",
    "throttled": 1250,
    "since": "2026-11-23T09:00:00+00:00",
    "overrides": {"events_per_second": 1000.0, "burst": 1000.0},
}
LIMITS_EXAMPLE = {
    "limits": [
        LIMIT_EXAMPLE,
        {
            "topic": "emails",
            "events_per_second": 50.0,
            "burst": 500.0,
            "source": "settings",
            "throttled": 0,
        },
    ],
    "throttled": 1250,
}
CLEARED_EXAMPLE = {
    "topic": "orders",
    "cleared": True,
    "limit": {
        "topic": "orders",
        "events_per_second": 1000.0,
        "burst": 1000.0,
        "source": "settings",
        "throttled": 1250,
    },
}
NO_LIMIT: dict[int | str, dict[str, Any]] = {
    404: {
        "model": Problem,
        "description": "The topic has no rate limit (GET), or none set at run time (DELETE).",
        "content": {"application/json": {"example": {"detail": "no rate limit for 'orders'"}}},
    }
}
