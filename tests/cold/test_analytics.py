"""Execution outcomes through the journal writer, and ScheduleAnalyticsService's numbers
checked against known inputs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from unit.fakes import default_settings

from scheduler.cold import ClickHouse
from scheduler.cold.analytics import ScheduleAnalyticsService
from scheduler.cold.journal import JournalWriter
from scheduler.cold.store import ColdStore
from scheduler.hot.outcome import Outcome, OutcomeStatus
from scheduler.models import Event

SKIPPED, RETRY, DEAD_LETTER = OutcomeStatus.SKIPPED, OutcomeStatus.RETRY, OutcomeStatus.DEAD_LETTER

# Three whole hours back: the latest rows (HOUR + 1 h + 60 s) stay more than an hour old
# whatever the minute the suite runs in, so "the last hour" is always empty.
HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def outcome(
    n: int,
    delay: float,
    status: OutcomeStatus = OutcomeStatus.SUCCESS,
    *,
    at: datetime = HOUR,
    entity: str = "user",
    action: str = "remind",
    topic: str = "user.notifications",
    error: str | None = None,
    attempt: int = 1,
    timed_out: bool = False,
) -> Outcome:
    executed = at.timestamp() + 60
    ev = Event(
        schedule_id=f"s{n}",
        topic=topic,
        body=b"x",
        scheduled_at=executed - delay,
        entity_type=entity,
        action=action,
        correlation_id=f"c{n}",
    )
    return Outcome(ev, status, executed, attempt, error, "node-a", timed_out=timed_out)


def writer(cold: ColdStore, **overrides: Any) -> JournalWriter:
    """A journal writer as the default settings make it, with `overrides`."""
    s = default_settings()
    config: dict[str, Any] = {
        "batch_size": s.analytics_batch_size,
        "flush_interval": s.analytics_flush_interval,
        "record_results": s.analytics_enabled,
        "node_id": s.node_id,
    }
    return JournalWriter(cold, **(config | overrides))


async def test_outcomes_map_to_statuses_and_results(cold: ColdStore) -> None:
    journal = writer(cold, batch_size=1000, flush_interval=60)
    await journal.record(
        [
            outcome(1, 0.5),
            outcome(2, 9000, SKIPPED, error="later than max_delay_seconds"),
            outcome(3, 1, RETRY, error="KafkaTimeoutError: timed out", timed_out=True),
            outcome(4, 1, RETRY, error="KafkaConnectionError: refused", attempt=2),
            outcome(5, 2, DEAD_LETTER, error="permanent_error: MessageSizeTooLargeError"),
        ]
    )
    await journal.flush()
    rows = await cold.ch.query(
        "SELECT schedule_id, status, attempts, error FROM event_schedules ORDER BY schedule_id"
    )
    assert [(r["schedule_id"], r["status"], r["attempts"]) for r in rows] == [
        ("s1", "executed", 1),
        ("s2", "skipped", 1),
        ("s3", "transferred", 1),  # a retry: still in Redis, one attempt used
        ("s4", "transferred", 2),
        ("s5", "error", 1),
    ]
    assert rows[4]["error"] == "permanent_error: MessageSizeTooLargeError"
    results = await cold.ch.query(
        "SELECT schedule_id, status, retry_count, delay_seconds, node_id"
        " FROM schedule_execution_results ORDER BY schedule_id"
    )
    assert [(r["schedule_id"], r["status"], r["retry_count"]) for r in results] == [
        ("s1", "success", 0),
        ("s2", "skipped", 0),
        ("s3", "timeout", 0),
        ("s4", "error", 1),
        ("s5", "error", 0),
    ]
    assert results[0]["delay_seconds"] == pytest.approx(0.5)
    assert {r["node_id"] for r in results} == {"node-a"}


async def test_analytics_off_records_statuses_but_no_results(cold: ColdStore) -> None:
    journal = writer(cold, record_results=False)
    await journal.record([outcome(1, 0.5)])
    await journal.flush()
    assert await cold.ch.query("SELECT status FROM event_schedules") == [{"status": "executed"}]
    assert await cold.ch.query("SELECT count() AS n FROM schedule_execution_results") == [{"n": 0}]


async def test_the_writer_batches_by_size_and_by_interval(cold: ColdStore) -> None:
    journal = writer(cold, batch_size=50, flush_interval=0.3)
    journal.start()
    try:
        await journal.record([outcome(i, 1.0) for i in range(60)])  # a full batch: at once
        deadline = time.monotonic() + 5
        while journal.pending() and time.monotonic() < deadline:
            await _sleep(0.02)
        assert journal.pending() == 0
        await journal.record([outcome(100, 1.0)])  # below the batch size: by the interval
        await _sleep(0.05)
        assert journal.pending() == 2
        deadline = time.monotonic() + 5
        while journal.pending() and time.monotonic() < deadline:
            await _sleep(0.02)
        assert journal.pending() == 0
    finally:
        await journal.close()
    n = await cold.ch.query("SELECT count() AS n FROM schedule_execution_results")
    assert n == [{"n": 61}]


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@pytest.fixture
async def known(cold: ColdStore) -> ClickHouse:
    """1,000 successes two hours ago with delays 0..999 s, 10 failures, 5 timeouts,
    5 skipped (another entity type), 3 successes an hour later on another topic."""
    journal = writer(cold, batch_size=10_000)
    batch = [outcome(d, float(d)) for d in range(1000)]
    batch += [outcome(2000 + i, 5.0, DEAD_LETTER, entity="order", action="ship",
                      error=f"permanent_error: e{i}") for i in range(10)]  # fmt: skip
    batch += [
        outcome(3000 + i, 5.0, RETRY, error="RequestTimedOutError", timed_out=True)
        for i in range(5)
    ]
    batch += [outcome(4000 + i, 9000.0, SKIPPED, entity="invoice") for i in range(5)]
    later = HOUR + timedelta(hours=1)
    batch += [outcome(5000 + i, 2.0, at=later, topic="billing") for i in range(3)]
    for start in range(0, len(batch), 300):  # several inserts: several partial states
        await journal.record(batch[start : start + 300])
        await journal.flush()
    return cold.ch


async def test_summary_of_the_last_hours(known: ClickHouse) -> None:
    summary = await ScheduleAnalyticsService(known).get_summary(hours=24)
    f = summary.figures
    assert (f.total, f.successful, f.failed, f.timeouts, f.skipped) == (1023, 1003, 10, 5, 5)
    assert f.success_rate == pytest.approx(100 * 1003 / 1023)
    assert [(g.entity_type, g.action, g.count) for g in summary.failures] == [
        ("order", "ship", 10),
        ("user", "remind", 5),
    ]
    empty = await ScheduleAnalyticsService(known).get_summary(hours=1)
    assert empty.figures.total == 0 and empty.figures.p95_delay_seconds is None


async def test_performance_metrics_for_a_window_and_filters(known: ClickHouse) -> None:
    analytics = ScheduleAnalyticsService(known)
    window = await analytics.get_performance_metrics(
        start_date=HOUR, end_date=HOUR + timedelta(hours=1), entity_type="user", topic=None
    )
    assert [h.hour for h in window.hourly] == [HOUR]
    t = window.totals
    assert (t.total, t.successful, t.timeouts) == (1005, 1000, 5)
    only_successes = await analytics.get_performance_metrics(
        start_date=HOUR, end_date=HOUR + timedelta(minutes=30), entity_type="user",
        action="remind", topic="user.notifications",
    )  # fmt: skip
    # Known distribution 0..999 s (one each) plus five 5 s delays of the timeouts.
    delays = sorted([float(d) for d in range(1000)] + [5.0] * 5)
    assert only_successes.totals.p95_delay_seconds == pytest.approx(_quantile(delays, 0.95))
    assert only_successes.totals.p50_delay_seconds == pytest.approx(_quantile(delays, 0.5))
    assert only_successes.totals.p99_delay_seconds == pytest.approx(_quantile(delays, 0.99))
    assert only_successes.totals.avg_delay_seconds == pytest.approx(sum(delays) / len(delays))

    two_hours = await analytics.get_performance_metrics(
        start_date=HOUR + timedelta(minutes=10), end_date=HOUR + timedelta(hours=2)
    )
    assert [(h.hour, h.figures.total) for h in two_hours.hourly] == [
        (HOUR, 1020),
        (HOUR + timedelta(hours=1), 3),
    ]
    assert two_hours.totals.total == 1023
    billing = await analytics.get_performance_metrics(
        start_date=HOUR, end_date=HOUR + timedelta(hours=2), topic="billing"
    )
    assert (billing.totals.total, billing.totals.p95_delay_seconds) == (3, pytest.approx(2.0))


def _quantile(sorted_values: list[float], q: float) -> float:
    """ClickHouse's quantile(): linear interpolation at position q * (n - 1)."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


async def test_a_full_buffer_drops_the_oldest_rows_and_counts_them(cold: ColdStore) -> None:
    from scheduler import metrics

    dropped = metrics.JOURNAL_DROPPED.labels("event_schedules")
    before = dropped._value.get()
    journal = writer(cold, record_results=False, max_buffered=10)
    await journal.record([outcome(i, 1.0) for i in range(25)])
    assert journal.pending() == 10
    assert dropped._value.get() - before == 15
    await journal.flush()
    rows = await cold.ch.query(
        "SELECT min(schedule_id) AS first, count() AS n FROM event_schedules"
    )
    assert rows == [{"first": "s15", "n": 10}]  # the newest ten were kept


async def test_processing_time_is_ack_minus_claim(cold: ColdStore) -> None:
    o = outcome(1, 0.5, attempt=3)
    o.claimed_at = o.executed_at - 0.25
    journal = writer(cold, batch_size=10)
    await journal.record([o])
    await journal.flush()
    rows = await cold.ch.query(
        "SELECT processing_time_ms, retry_count, node_id, delay_seconds "
        "FROM schedule_execution_results"
    )
    assert rows == [
        {"processing_time_ms": 250, "retry_count": 2, "node_id": "node-a", "delay_seconds": 0.5}
    ]
