"""schedule_execution_results answers the runbook verbatim; the hourly metrics MV agrees.

A known delay distribution (0..999 s, one of each) is inserted in several batches, so
the materialized view writes several partial states per hour and key; merged, their
p50/p95/p99 must equal the quantiles of the raw rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from cold.runbook import (
    ERROR_PATTERNS,
    RECENT_PERFORMANCE,
    WEEKLY_REVIEW,
)
from scheduler.cold import ClickHouse

COLUMNS = (
    "execution_id", "schedule_id", "correlation_id", "topic", "entity_type", "action",
    "scheduled_at", "executed_at", "delay_seconds", "status", "error_message", "retry_count",
    "processing_time_ms", "node_id",
)  # fmt: skip
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
RECENT = NOW - dt.timedelta(minutes=10)


def result(
    n: int, at: dt.datetime, status: str = "success", *, delay: float = 1.0,
    entity: str = "user", action: str = "remind", error: str | None = None,
) -> tuple[Any, ...]:  # fmt: skip
    scheduled = at - dt.timedelta(seconds=delay)
    return (f"x{n}", f"s{n}", f"c{n}", "user.notifications", entity, action, scheduled, at,
            delay, status, error, 0, 10 * (n % 5), "node-1")  # fmt: skip


@pytest.fixture
async def results(migrated: ClickHouse) -> ClickHouse:
    n = itertools.count()
    rows = [result(next(n), RECENT) for _ in range(3)]
    rows += [result(next(n), RECENT, "error", error=e) for e in ("e1", "e2")]
    rows += [result(next(n), RECENT, "error", entity="order", action="ship", error="e3")]
    rows += [result(next(n), RECENT, "timeout")]
    rows += [result(next(n), NOW - dt.timedelta(hours=2)) for _ in range(2)]
    rows += [
        result(next(n), NOW - dt.timedelta(days=10)),
        result(next(n), NOW - dt.timedelta(days=40)),
    ]
    await migrated.insert("schedule_execution_results", rows, COLUMNS)
    return migrated


async def test_recent_performance(results: ClickHouse) -> None:
    rows = await results.query(RECENT_PERFORMANCE)
    assert [(r["total_executions"], r["successful"], r["failed"]) for r in rows] == [
        (7, 3, 3),
        (2, 2, 0),
    ]
    assert rows[0]["hour"] > rows[1]["hour"]


async def test_error_patterns(results: ClickHouse) -> None:
    rows = await results.query(ERROR_PATTERNS)
    got = [(r["entity_type"], r["action"], r["error_count"], sorted(r["errors"])) for r in rows]
    assert got == [("user", "remind", 2, ["e1", "e2"]), ("order", "ship", 1, ["e3"])]


async def test_weekly_review(results: ClickHouse) -> None:
    await results.command("OPTIMIZE TABLE schedule_execution_results FINAL")  # runbook, weekly
    rows = await results.query(WEEKLY_REVIEW)
    assert sum(r["total_executions"] for r in rows) == 10  # the 40-day-old one is out
    assert all(0 <= r["success_rate"] <= 100 for r in rows)


async def test_metrics_view_quantiles_match_the_raw_rows(migrated: ClickHouse) -> None:
    hour = NOW.replace(minute=30, second=0, microsecond=0) - dt.timedelta(hours=3)
    delays = list(range(1000))
    rows = [result(d, hour, delay=float(d)) for d in delays]
    rows += [result(1000 + d, hour, "error", entity="order", delay=5.0) for d in range(10)]
    for start in range(0, len(rows), 300):  # four inserts: four partial states to merge
        await migrated.insert("schedule_execution_results", rows[start : start + 300], COLUMNS)

    hourly = await migrated.query(
        "SELECT entity_type, total_executions, successful_executions, failed_executions,"
        " avg_delay_seconds, p50_delay_seconds, p95_delay_seconds, p99_delay_seconds"
        " FROM schedule_performance_hourly WHERE date = {d:Date} AND hour = {h:UInt8}"
        " ORDER BY entity_type",
        {"d": hour.date(), "h": hour.hour},
    )
    assert [(r["entity_type"], r["total_executions"]) for r in hourly] == [
        ("order", 10),
        ("user", 1000),
    ]
    user = hourly[1]
    assert (user["successful_executions"], user["failed_executions"]) == (1000, 0)
    assert user["avg_delay_seconds"] == pytest.approx(499.5)
    # Linear interpolation over 0..999: the q-quantile is 999 * q.
    assert user["p50_delay_seconds"] == pytest.approx(499.5)
    assert user["p95_delay_seconds"] == pytest.approx(949.05)
    assert user["p99_delay_seconds"] == pytest.approx(989.01)

    # Any window merges states: the whole hour across both entity types equals the raw p95.
    merged = await migrated.query(
        "SELECT countMerge(total_executions) AS n,"
        " quantilesMerge(0.5, 0.95, 0.99)(delay_seconds_quantiles)[2] AS p95"
        " FROM schedule_performance_metrics WHERE date = {d:Date} AND hour = {h:UInt8}",
        {"d": hour.date(), "h": hour.hour},
    )
    raw = await migrated.query(
        "SELECT count() AS n, quantile(0.95)(delay_seconds) AS p95"
        " FROM schedule_execution_results WHERE toStartOfHour(executed_at) = {at:DateTime}",
        {"at": hour.replace(minute=0)},
    )
    assert merged[0]["n"] == raw[0]["n"] == 1010
    assert merged[0]["p95"] == pytest.approx(raw[0]["p95"])
