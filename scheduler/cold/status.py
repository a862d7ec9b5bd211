"""What is known about one schedule_id, from Redis and from ClickHouse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from scheduler.cold.records import Schedule, Status, Tier, micros
from scheduler.cold.store import ColdStore
from scheduler.errors import ServiceUnavailable
from scheduler.hot.store import HotStore


def _dt(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, UTC)


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    schedule_id: str
    status: str  # pending|processing|transferred|executed|cancelled|skipped|error
    tier: str  # hot|cold
    scheduled_at: datetime
    topic: str
    entity_type: str
    action: str
    correlation_id: str | None
    priority: int
    attempts: int = 0
    error: str | None = None
    hot_state: str | None = None  # 'pending', 'in_flight' or 'held' (paused) while in Redis
    processing_started_at: datetime | None = None
    updated_at: datetime | None = None


def _from_schedule(s: Schedule, hot_state: str | None = None) -> ScheduleStatus:
    ev = s.event
    return ScheduleStatus(
        schedule_id=ev.schedule_id,
        status=s.status.value,
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
        updated_at=_dt(s.updated_us),
    )


async def schedule_status(
    cold: ColdStore | None, hot: HotStore, schedule_id: str
) -> ScheduleStatus | None:
    """Redis's live state wins (it is the truth for what will fire); otherwise the
    current ClickHouse row: the live one if any, else the most recently changed."""
    found = await hot.get(schedule_id)
    rows: list[Schedule] = []
    if cold is not None:
        try:
            rows = await cold.find([schedule_id])
        except ServiceUnavailable:
            if found is None:
                raise
    if found is not None:
        state, ev = found
        same = [r for r in rows if r.scheduled_us == micros(ev.scheduled_at)]
        base = same[0] if same else Schedule(ev, Status.TRANSFERRED, Tier.HOT)
        base.status, base.tier, base.event = Status.TRANSFERRED, Tier.HOT, ev
        return _from_schedule(base, state)
    if not rows:
        return None
    live = [r for r in rows if r.status in (Status.PENDING, Status.PROCESSING, Status.TRANSFERRED)]
    best = max(live or rows, key=lambda r: r.updated_us)
    return _from_schedule(best)
