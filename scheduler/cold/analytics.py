"""ScheduleAnalyticsService: execution summaries and hourly performance.

- `get_summary(hours)` reads `schedule_execution_results` (exact, one row per delivery
  attempt outcome) for the last N hours: what the runbook's summary endpoint shows.
- `get_performance_metrics(start_date, end_date, entity_type=, action=, topic=)` merges
  the hourly aggregate states of `schedule_performance_metrics` (kept a year, longer
  than the raw results): per hour and for the whole window, with p50/p95/p99 delay
  combined from quantile states, not averaged from hourly percentiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.cold.clickhouse import ClickHouse
from scheduler.cold.store import ColdStore


def _num(x: Any) -> float | None:
    """NaN (an average or quantile of nothing) as None."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


@dataclass(frozen=True, slots=True)
class Figures:
    total: int
    successful: int
    failed: int  # status 'error'
    timeouts: int
    skipped: int
    success_rate: float | None  # percent of all outcomes
    avg_delay_seconds: float | None
    p50_delay_seconds: float | None
    p95_delay_seconds: float | None
    p99_delay_seconds: float | None
    avg_processing_time_ms: float | None

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Figures:
        total = int(r["total"])
        q = r["q"] if total else []
        return cls(
            total=total,
            successful=int(r["successful"]),
            failed=int(r["failed"]),
            timeouts=int(r["timeouts"]),
            skipped=int(r["skipped"]),
            success_rate=100.0 * int(r["successful"]) / total if total else None,
            avg_delay_seconds=_num(r["avg_delay_seconds"]) if total else None,
            p50_delay_seconds=_num(q[0]) if q else None,
            p95_delay_seconds=_num(q[1]) if q else None,
            p99_delay_seconds=_num(q[2]) if q else None,
            avg_processing_time_ms=_num(r["avg_processing_time_ms"]) if total else None,
        )


@dataclass(frozen=True, slots=True)
class FailureGroup:
    entity_type: str
    action: str
    count: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    hours: int
    since: datetime
    figures: Figures
    failures: list[FailureGroup] = field(default_factory=list)  # most failing first


@dataclass(frozen=True, slots=True)
class HourlyFigures:
    hour: datetime
    figures: Figures


@dataclass(frozen=True, slots=True)
class PerformanceMetrics:
    start: datetime
    end: datetime
    entity_type: str | None
    action: str | None
    topic: str | None
    totals: Figures
    hourly: list[HourlyFigures]


@dataclass(frozen=True, slots=True)
class MinuteFigures:
    minute: datetime
    fired: int
    failed: int  # error or timeout
    skipped: int


@dataclass(frozen=True, slots=True)
class Timeline:
    """Outcomes per minute, oldest first, every minute of the window present."""

    minutes: int
    since: datetime
    per_minute: list[MinuteFigures]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt's outcome (a schedule_execution_results row)."""

    executed_at: datetime
    status: str  # success, error, timeout, skipped
    delay_seconds: float  # how late it was sent (or decided)
    retry_count: int  # attempts before this one
    processing_time_ms: int
    node_id: str
    error: str | None = None


class ScheduleAnalyticsService:
    def __init__(self, ch: ClickHouse) -> None:
        self.cold = ColdStore(ch)

    async def get_summary(self, hours: int = 24, *, top_failures: int = 10) -> ExecutionSummary:
        """Outcomes of the last `hours` hours, and the entity types/actions failing most."""
        figures, failures = await self.cold.summary(hours, top_failures)
        return ExecutionSummary(
            hours=hours,
            since=figures["since"].replace(tzinfo=UTC),
            figures=Figures.from_row(figures),
            failures=[
                FailureGroup(r["entity_type"], r["action"], int(r["n"]), r["last"])
                for r in failures
            ],
        )

    async def get_timeline(self, minutes: int = 60, *, now: datetime | None = None) -> Timeline:
        """Fired, failed and skipped in each of the last `minutes` whole minutes and the
        current one (zeros where nothing happened)."""
        rows = await self.cold.per_minute(minutes)
        counted = {r["minute"].replace(tzinfo=UTC): r for r in rows}
        current = _utc(now or datetime.now(UTC)).replace(second=0, microsecond=0)
        since = current - timedelta(minutes=minutes)
        per_minute = []
        for i in range(minutes + 1):
            at = since + timedelta(minutes=i)
            r = counted.get(at, {})
            per_minute.append(
                MinuteFigures(
                    at, int(r.get("fired", 0)), int(r.get("failed", 0)), int(r.get("skipped", 0))
                )
            )
        return Timeline(minutes=minutes, since=since, per_minute=per_minute)

    async def get_attempts(
        self, schedule_id: str, since: datetime, *, limit: int = 100
    ) -> list[Attempt]:
        """The delivery attempts of one schedule recorded since `since`, oldest first."""
        since_us = int(_utc(since).timestamp() * 1_000_000)
        rows = await self.cold.attempts(schedule_id, since_us, limit)
        return [
            Attempt(
                executed_at=datetime.fromtimestamp(int(r["executed_us"]) / 1_000_000, UTC),
                status=str(r["status"]),
                delay_seconds=float(r["delay_seconds"]),
                error=r["error_message"],
                retry_count=int(r["retry_count"]),
                processing_time_ms=int(r["processing_time_ms"]),
                node_id=str(r["node_id"]),
            )
            for r in rows
        ]

    async def get_performance_metrics(
        self,
        start_date: datetime,
        end_date: datetime,
        *,
        entity_type: str | None = None,
        action: str | None = None,
        topic: str | None = None,
    ) -> PerformanceMetrics:
        """Hours starting in [hour of start_date, end_date), optionally one entity type,
        action and/or topic."""
        start = _utc(start_date).replace(minute=0, second=0, microsecond=0)
        end = _utc(end_date)
        hourly, totals = await self.cold.performance(
            start.replace(tzinfo=None),
            end.replace(tzinfo=None),
            entity_type=entity_type,
            action=action,
            topic=topic,
        )
        return PerformanceMetrics(
            start=start,
            end=end,
            entity_type=entity_type,
            action=action,
            topic=topic,
            totals=Figures.from_row(totals),
            hourly=[
                HourlyFigures(r["hour_start"].replace(tzinfo=UTC), Figures.from_row(r))
                for r in hourly
            ],
        )


def _utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
