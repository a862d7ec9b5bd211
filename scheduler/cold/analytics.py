"""ScheduleAnalyticsService (design doc): execution summaries and hourly performance.

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
from datetime import UTC, datetime
from typing import Any

from scheduler.cold.clickhouse import ClickHouse

_FIGURES = """
    {total} AS total,
    {ok} AS successful,
    {err} AS failed,
    {tmo} AS timeouts,
    {skp} AS skipped,
    {avg_delay} AS avg_delay_seconds,
    {quantiles} AS q,
    {avg_ms} AS avg_processing_time_ms
"""
_RAW = _FIGURES.format(
    total="count()",
    ok="countIf(status = 'success')",
    err="countIf(status = 'error')",
    tmo="countIf(status = 'timeout')",
    skp="countIf(status = 'skipped')",
    avg_delay="avg(delay_seconds)",
    quantiles="quantiles(0.5, 0.95, 0.99)(delay_seconds)",
    avg_ms="avg(processing_time_ms)",
)
_MERGED = _FIGURES.format(
    total="countMerge(total_executions)",
    ok="countIfMerge(successful_executions)",
    err="countIfMerge(failed_executions)",
    tmo="countIfMerge(timeout_executions)",
    skp="countIfMerge(skipped_executions)",
    avg_delay="avgMerge(avg_delay_seconds)",
    quantiles="quantilesMerge(0.5, 0.95, 0.99)(delay_seconds_quantiles)",
    avg_ms="avgMerge(avg_processing_time_ms)",
)
_FILTERS = """
    ({entity_type:Nullable(String)} IS NULL OR entity_type = {entity_type:Nullable(String)})
    AND ({action:Nullable(String)} IS NULL OR action = {action:Nullable(String)})
    AND ({topic:Nullable(String)} IS NULL OR topic = {topic:Nullable(String)})
"""


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


class ScheduleAnalyticsService:
    def __init__(self, ch: ClickHouse) -> None:
        self.ch = ch

    async def get_summary(self, hours: int = 24, *, top_failures: int = 10) -> ExecutionSummary:
        """Outcomes of the last `hours` hours, and the entity types/actions failing most."""
        params = {"hours": hours, "top": top_failures}
        window = "executed_at >= now64(6) - toIntervalHour({hours:UInt32})"
        rows = await self.ch.query(
            f"SELECT {_RAW}, now64(6) - toIntervalHour({{hours:UInt32}}) AS since"
            f" FROM schedule_execution_results WHERE {window}",
            params,
        )
        failures = await self.ch.query(
            "SELECT entity_type, action, count() AS n, argMax(error_message, executed_at) AS last"
            f" FROM schedule_execution_results WHERE {window} AND status IN ('error', 'timeout')"
            " GROUP BY entity_type, action ORDER BY n DESC, entity_type, action"
            " LIMIT {top:UInt32}",
            params,
        )
        return ExecutionSummary(
            hours=hours,
            since=rows[0]["since"].replace(tzinfo=UTC),
            figures=Figures.from_row(rows[0]),
            failures=[
                FailureGroup(r["entity_type"], r["action"], int(r["n"]), r["last"])
                for r in failures
            ],
        )

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
        params = {
            "start": start.replace(tzinfo=None),
            "end": end.replace(tzinfo=None),
            "entity_type": entity_type,
            "action": action,
            "topic": topic,
        }
        where = (
            "date BETWEEN toDate({start:DateTime64(6,'UTC')}) AND toDate({end:DateTime64(6,'UTC')})"
            " AND toDateTime(date, 'UTC') + toIntervalHour(hour) >= {start:DateTime64(6,'UTC')}"
            " AND toDateTime(date, 'UTC') + toIntervalHour(hour) < {end:DateTime64(6,'UTC')}"
            f" AND {_FILTERS}"
        )
        hourly = await self.ch.query(
            f"SELECT toDateTime(date, 'UTC') + toIntervalHour(hour) AS hour_start, {_MERGED}"
            f" FROM schedule_performance_metrics WHERE {where}"
            " GROUP BY hour_start ORDER BY hour_start",
            params,
        )
        totals = await self.ch.query(
            f"SELECT {_MERGED} FROM schedule_performance_metrics WHERE {where}", params
        )
        return PerformanceMetrics(
            start=start,
            end=end,
            entity_type=entity_type,
            action=action,
            topic=topic,
            totals=Figures.from_row(totals[0]),
            hourly=[
                HourlyFigures(r["hour_start"].replace(tzinfo=UTC), Figures.from_row(r))
                for r in hourly
            ],
        )


def _utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
