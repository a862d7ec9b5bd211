"""The operator runbook's SQL, copied verbatim, gives correct answers on our schema.

Status changes are new versions in separate inserts with merges stopped, so the log
table really holds stale versions while the queries run: the counts are right because
`event_schedules` shows one row per schedule, not because a merge happened to run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cold.runbook import (
    COUNT_PENDING,
    ERROR_DISTRIBUTION,
    PENDING_BY_STATUS,
    PENDING_TRANSFER,
    STUCK,
    TABLE_LOCKS,
)
from scheduler.cold import ClickHouse
from scheduler.errors import ClickHouseQueryError

COLUMNS = (
    "schedule_id", "topic", "entity_type", "action", "body", "correlation_id", "headers",
    "scheduled_at", "status", "tier", "attempts", "error", "processing_started_at",
    "created_at", "updated_at", "version",
)  # fmt: skip
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)


def version(
    i: int, status: str, v: int, *, error: str | None = None, started: dt.datetime | None = None
) -> tuple[Any, ...]:
    """A full row of schedule s{i}: every version carries all columns."""
    due = NOW + (dt.timedelta(minutes=30) if i == 8 else dt.timedelta(days=2 + i))
    return (f"s{i}", "user.notifications", "user", "send_reminder", "{}", f"c{i}", "{}", due,
            status, "cold", min(v - 1, 3), error, started, NOW, NOW, v)  # fmt: skip


@pytest.fixture
async def schedules(migrated: ClickHouse) -> ClickHouse:
    ch = migrated
    await ch.command("SYSTEM STOP MERGES event_schedules_log")
    two_hours_ago, ten_minutes_ago = NOW - dt.timedelta(hours=2), NOW - dt.timedelta(minutes=10)
    batches = [
        [version(i, "pending", 1) for i in range(10)],
        [version(i, "processing", 2, started=two_hours_ago) for i in (0, 1)]
        + [version(i, "processing", 2, started=ten_minutes_ago) for i in (2, 3)],
        [version(0, "error", 3, error="boom"), version(4, "error", 2, error="boom"),
         version(5, "error", 2, error="bad payload"), version(6, "transferred", 2),
         version(7, "cancelled", 2)],
        [version(6, "executed", 3)],
    ]  # fmt: skip
    for batch in batches:  # one insert each: four parts, stale versions and all
        await ch.insert("event_schedules_log", batch, COLUMNS)
    return ch


async def test_log_really_holds_stale_versions(schedules: ClickHouse) -> None:
    raw = await schedules.query("SELECT count() AS n FROM event_schedules_log")
    assert raw == [{"n": 20}]
    assert await schedules.query("SELECT count() AS n FROM event_schedules") == [{"n": 10}]


async def test_pending_and_processing_counted_once(schedules: ClickHouse) -> None:
    rows = await schedules.query(PENDING_BY_STATUS)
    by_status = {r["status"]: r for r in rows}
    assert {s: r["count"] for s, r in by_status.items()} == {"pending": 2, "processing": 3}
    assert by_status["pending"]["earliest"] == version(8, "pending", 1)[7]
    assert by_status["pending"]["latest"] == version(9, "pending", 1)[7]
    assert await schedules.query(COUNT_PENDING) == [{"count()": 2}]


async def test_sync_horizon_query(schedules: ClickHouse) -> None:
    rows = await schedules.query(PENDING_TRANSFER)
    assert rows == [{"pending_transfer": 1, "earliest_pending": version(8, "pending", 1)[7]}]


async def test_stuck_events_are_the_old_processing_ones(schedules: ClickHouse) -> None:
    rows = await schedules.query(STUCK)
    assert [(r["schedule_id"], r["status"], r["attempts"]) for r in rows] == [
        ("s1", "processing", 1)
    ]


async def test_error_distribution(schedules: ClickHouse) -> None:
    rows = await schedules.query(ERROR_DISTRIBUTION)
    assert rows == [{"error": "boom", "count": 2}, {"error": "bad payload", "count": 1}]


async def test_process_list_query_runs(schedules: ClickHouse) -> None:
    rows = await schedules.query(TABLE_LOCKS)
    assert any("event_schedules" in r["query"] for r in rows)  # at least itself


async def test_maintenance_statements(schedules: ClickHouse) -> None:
    # The runbook's OPTIMIZE/CHECK name event_schedules, which is a view here (ClickHouse
    # answers NOT_IMPLEMENTED); they work on the table behind it, and change no answer.
    with pytest.raises(ClickHouseQueryError) as raised:
        await schedules.command("OPTIMIZE TABLE event_schedules FINAL")
    assert raised.value.code == 48
    await schedules.command("SYSTEM START MERGES event_schedules_log")
    await schedules.command("OPTIMIZE TABLE event_schedules_log FINAL")
    assert await schedules.query("SELECT count() AS n FROM event_schedules_log") == [{"n": 10}]
    assert (await schedules.command("CHECK TABLE event_schedules_log")).split("\t")[1] == "1"
    await schedules.command("DETACH TABLE event_schedules")  # verbatim: works on a view
    await schedules.command("ATTACH TABLE event_schedules")
    assert await schedules.query(COUNT_PENDING) == [{"count()": 2}]


async def test_tombstone_hides_a_schedule(schedules: ClickHouse) -> None:
    row = version(9, "pending", 2)
    await schedules.insert("event_schedules_log", [(*row, 1)], (*COLUMNS, "is_deleted"))
    assert await schedules.query(COUNT_PENDING) == [{"count()": 1}]


async def test_version_defaults_to_updated_at_micros(schedules: ClickHouse) -> None:
    row = dict(zip(COLUMNS, version(8, "transferred", 2), strict=True))
    row["updated_at"] = NOW + dt.timedelta(seconds=1)
    columns = [c for c in COLUMNS if c != "version"]
    await schedules.insert("event_schedules_log", [[row[c] for c in columns]], columns)
    rows = await schedules.query(
        "SELECT status, version FROM event_schedules WHERE schedule_id = {id:String}", {"id": "s8"}
    )
    micros = (row["updated_at"] - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)
    assert rows == [{"status": "transferred", "version": micros}]
