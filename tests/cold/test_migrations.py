"""Migrations apply once, in order, are recorded with checksums, and refuse edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scheduler.cold import ClickHouse, check_migrations, migrate
from scheduler.cold.migrate import (
    MIGRATIONS_DIR,
    execution_history_ttl,
    load_migrations,
    split_statements,
)
from scheduler.errors import MigrationChecksumMismatch, PendingMigrations

NAMES = [m.name for m in load_migrations()]
TABLES = {
    "event_schedules",
    "event_schedules_log",
    "schedule_execution_results",
    "schedule_performance_hourly",
    "schedule_performance_metrics",
    "schedule_performance_metrics_mv",
    "schema_migrations",
    "recurring_schedules",
}


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """An editable copy of the migration files."""
    return Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))


def test_files_are_numbered_in_order() -> None:
    assert NAMES[0] == "0001_event_schedules"
    assert sorted(NAMES) == NAMES
    assert all(m.statements for m in load_migrations())


def test_split_ignores_semicolons_in_strings_and_comments() -> None:
    sql = "-- a; b\nSELECT 'x;y', `c;d` /* e; */ FROM t;\n\n  SELECT 2 ;\n-- only a comment;\n"
    assert split_statements(sql) == ["-- a; b\nSELECT 'x;y', `c;d` /* e; */ FROM t", "SELECT 2"]


async def test_migrate_applies_everything_once(ch: ClickHouse) -> None:
    with pytest.raises(PendingMigrations, match="0001_event_schedules"):
        await check_migrations(ch)
    assert await migrate(ch) == NAMES
    assert await migrate(ch) == []  # idempotent: nothing left to do
    await check_migrations(ch)
    tables = {r["name"] for r in await ch.query("SHOW TABLES")}
    assert tables == TABLES
    recorded = await ch.query("SELECT name, checksum FROM schema_migrations FINAL ORDER BY name")
    assert recorded == [{"name": m.name, "checksum": m.checksum} for m in load_migrations()]


async def test_new_file_is_pending_then_applied_alone(
    ch: ClickHouse, migrations_copy: Path
) -> None:
    await migrate(ch, directory=migrations_copy)
    extra = migrations_copy / "0999_extra_table.sql"
    extra.write_text("CREATE TABLE IF NOT EXISTS extra (a UInt8) ENGINE = MergeTree ORDER BY a;\n")
    with pytest.raises(PendingMigrations, match="0999_extra_table"):
        await check_migrations(ch, directory=migrations_copy)
    assert await migrate(ch, directory=migrations_copy) == ["0999_extra_table"]
    await check_migrations(ch, directory=migrations_copy)


async def test_changed_checksum_is_refused(ch: ClickHouse, migrations_copy: Path) -> None:
    await migrate(ch, directory=migrations_copy)
    first = migrations_copy / f"{NAMES[0]}.sql"
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationChecksumMismatch, match=NAMES[0]):
        await migrate(ch, directory=migrations_copy)
    with pytest.raises(MigrationChecksumMismatch, match=NAMES[0]):
        await check_migrations(ch, directory=migrations_copy)


async def test_execution_history_ttl_follows_the_setting(ch: ClickHouse) -> None:
    await migrate(ch)
    assert await execution_history_ttl(ch) == 90  # the file's initial value
    await check_migrations(ch, execution_history_ttl_days=90)
    with pytest.raises(PendingMigrations, match="TTL 90 -> 30 days"):
        await check_migrations(ch, execution_history_ttl_days=30)
    assert await migrate(ch, execution_history_ttl_days=30) == [
        "schedule_execution_results TTL 90 -> 30 days"
    ]
    assert await execution_history_ttl(ch) == 30
    assert await migrate(ch, execution_history_ttl_days=30) == []
    await check_migrations(ch, execution_history_ttl_days=30)
