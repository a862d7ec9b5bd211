"""Per-topic rate limits: /api/v1/schedules/monitoring/rate-limits[/{topic}], next to
pause and resume (scheduler.hot.ratelimit). Under `monitoring/` so that no path of one
segment after /api/v1/schedules/ shadows a schedule_id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, status

from api.deps import Authorized, ServiceDep
from api.errors import error_responses
from api.schemas.ratelimits import (
    CLEARED_EXAMPLE,
    LIMIT_EXAMPLE,
    LIMITS_EXAMPLE,
    NO_LIMIT,
    PUT_EXAMPLES,
    RateLimitCleared,
    RateLimitInfo,
    RateLimitRequest,
    RateLimits,
)
from scheduler.hot.ratelimit import TopicLimit
from scheduler.models import TOPIC_PATTERN

router = APIRouter(prefix="/api/v1/schedules/monitoring/rate-limits", tags=["monitoring"])

Topic = Annotated[
    str,
    Path(
        min_length=1,
        max_length=249,
        # Checked by the service (pydantic's regex engine has no look-ahead); stated here.
        json_schema_extra={"pattern": TOPIC_PATTERN},
        description="A Kafka topic name.",
        examples=["orders"],
    ),
]


def _info(limit: TopicLimit) -> RateLimitInfo:
    return RateLimitInfo.model_validate(limit.to_dict())


def _ok(example: Any) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": example}}}}


@router.get("", responses={**_ok(LIMITS_EXAMPLE), **error_responses(503)})
async def list_rate_limits(service: ServiceDep) -> RateLimits:
    """Every limit in force (from SCHEDULES_TOPIC_RATE_LIMITS or set at run time), with
    the due events each topic has waiting for a token."""
    state = await service.rate_limits()
    return RateLimits.model_validate(state.to_dict())


@router.get("/{topic}", responses={**_ok(LIMIT_EXAMPLE), **NO_LIMIT, **error_responses(503)})
async def get_rate_limit(service: ServiceDep, topic: Topic) -> RateLimitInfo:
    """The limit in force for one topic; 404 if it has none."""
    found = await service.get_rate_limit(topic)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rate limit for {topic!r}")
    return _info(found)


@router.put(
    "/{topic}",
    dependencies=[Authorized],
    responses={**_ok(LIMIT_EXAMPLE), **error_responses(401, 413, 503)},
)
async def set_rate_limit(
    service: ServiceDep,
    topic: Topic,
    request: Annotated[RateLimitRequest, Body(openapi_examples=PUT_EXAMPLES)],
) -> RateLimitInfo:
    """Limit the topic (replacing its earlier runtime limit, overriding its setting) from
    every executor's next claim on. Events over the limit wait in Redis, in due order, and
    fire as it allows: never dropped, never early; other topics are not held up."""
    limit = await service.set_rate_limit(topic, request.events_per_second, burst=request.burst)
    return _info(limit)


@router.delete(
    "/{topic}",
    dependencies=[Authorized],
    responses={**_ok(CLEARED_EXAMPLE), **NO_LIMIT, **error_responses(401, 503)},
)
async def clear_rate_limit(service: ServiceDep, topic: Topic) -> RateLimitCleared:
    """Remove the topic's runtime limit: its SCHEDULES_TOPIC_RATE_LIMITS entry applies
    again, or, without one, its waiting events fire at once. 404 if none was set at run
    time (a setting's limit is changed by PUT, or in the settings)."""
    if not await service.clear_rate_limit(topic):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no rate limit set at run time for {topic!r}"
        )
    now = await service.get_rate_limit(topic)
    return RateLimitCleared(topic=topic, cleared=True, limit=None if now is None else _info(now))
