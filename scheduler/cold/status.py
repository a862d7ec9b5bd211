"""What is known about one schedule_id, from Redis and from ClickHouse.

The status callers read (Python and HTTP APIs) is the life cycle of the schedule:

    pending     waiting in ClickHouse (the cold tier), beyond the immediate horizon
    processing  being moved from ClickHouse into Redis by a sync
    scheduled   waiting in Redis (the hot tier) to fire: `hot_state` says pending, held
                (due, held back by a pause), throttled (due, waiting for its topic's rate
                limit) or in_flight (being published now)
    executed    published (the broker acknowledged it)
    skipped     not published: later than its max_delay_seconds
    error       not published: dead-lettered (`error` says why)
    cancelled   cancelled before it fired

ClickHouse stores 'scheduled' as 'transferred' (the runbook's SQL and the column's Enum
keep that word); every other status is stored as shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import ConfigDict, Field

from scheduler.cold.journal import JournalWriter
from scheduler.cold.records import LIVE, Schedule, Status, Tier, micros
from scheduler.cold.store import ColdStore
from scheduler.errors import ServiceUnavailable
from scheduler.hot.store import HotStore
from scheduler.models import Event

SCHEDULED = "scheduled"  # Status.TRANSFERRED, as callers read it


def _dt(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, UTC)


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    """What `get_status` and GET /api/v1/schedules/{schedule_id} answer."""

    # The HTTP API serves this very type (the descriptions are /openapi.json's), and
    # every field is always in its answer.
    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    schedule_id: str
    status: Annotated[
        str,
        Field(
            description="pending (waiting in ClickHouse), processing (moving into Redis), "
            "scheduled (waiting in Redis; see hot_state), executed, skipped (later than "
            "max_delay_seconds), error (dead-lettered), cancelled."
        ),
    ]
    tier: str  # hot|cold
    scheduled_at: datetime
    topic: str
    entity_type: str
    action: str
    correlation_id: str | None
    priority: int
    attempts: int = 0
    error: str | None = None
    hot_state: Annotated[
        str | None,
        Field(
            description="While Redis holds it: pending, in_flight, held (due, held back "
            "by a pause) or throttled (due, waiting for its topic's rate limit)."
        ),
    ] = None
    processing_started_at: datetime | None = None
    updated_at: datetime | None = None


def _from_schedule(s: Schedule, hot_state: str | None = None) -> ScheduleStatus:
    ev = s.event
    return ScheduleStatus(
        schedule_id=ev.schedule_id,
        status=SCHEDULED if s.status is Status.TRANSFERRED else s.status.value,
        tier=s.tier.value,
        scheduled_at=ev.scheduled_at_datetime,
        topic=ev.topic,
        entity_type=ev.entity_type,
        action=ev.action,
        correlation_id=ev.correlation_id,
        priority=ev.priority,
        attempts=s.attempts,
        error=s.error,
        hot_state=hot_state,
        processing_started_at=_dt(s.processing_started_us),
        # A schedule only Redis knows (its journal row not written yet) last changed
        # when it was created.
        updated_at=_dt(s.updated_us or micros(ev.created_at)),
    )


async def schedule_status(
    cold: ColdStore | None,
    hot: HotStore,
    schedule_id: str,
    journal: JournalWriter | None = None,
) -> ScheduleStatus | None:
    """Redis's live state wins (it is the truth for what will fire); otherwise the
    current ClickHouse row: the live one if any, else the most recently changed.

    `journal`: this process's journal writer, whose buffered versions count as written
    (read-your-writes: an event accepted and fired a moment ago is not in ClickHouse yet).
    """
    found = await hot.get(schedule_id)
    rows: list[Schedule] = []
    buffered = [] if journal is None else journal.buffered_versions(schedule_id)
    if cold is not None:
        try:
            rows = await cold.find([schedule_id])
        except ServiceUnavailable:
            if found is None and not buffered:
                raise
    if buffered:
        rows = latest_versions(rows + [Schedule.from_row(r) for r in buffered])
    if found is not None:
        state, ev = found
        same = [r for r in rows if r.scheduled_us == micros(ev.scheduled_at)]
        base = same[0] if same else Schedule(ev, Status.TRANSFERRED, Tier.HOT)
        base.status, base.tier, base.event = Status.TRANSFERRED, Tier.HOT, ev
        return _from_schedule(base, state)
    if not rows:
        return None
    live = [r for r in rows if r.status in LIVE]
    best = max(live or rows, key=lambda r: r.updated_us)
    return _from_schedule(best)


def latest_versions(rows: list[Schedule]) -> list[Schedule]:
    """The highest version of each schedule (key), as the table's FINAL would keep."""
    best: dict[tuple[int, str], Schedule] = {}
    for r in rows:
        if r.key not in best or r.version >= best[r.key].version:
            best[r.key] = r
    return list(best.values())


async def stored_event(
    cold: ColdStore | None,
    hot: HotStore,
    schedule_id: str,
    journal: JournalWriter | None = None,
) -> Event | None:
    """The event as stored (body, headers): Redis's copy while it holds it, else the row
    schedule_status reads (ClickHouse keeps finished events until the cleanup)."""
    found = await hot.get(schedule_id)
    if found is not None:
        return found[1]
    rows = [] if cold is None else await cold.find([schedule_id])
    if journal is not None:
        buffered = [Schedule.from_row(r) for r in journal.buffered_versions(schedule_id)]
        rows = latest_versions(rows + buffered)
    if not rows:
        return None
    live = [r for r in rows if r.status in LIVE]
    return max(live or rows, key=lambda r: r.updated_us).event
