"""The runbook's table maintenance: `OPTIMIZE TABLE ... FINAL` (weekly) and `CHECK TABLE`
(data corruption), on the tables that hold the cold tier's data.

The runbook names `event_schedules`, which is a view here (ClickHouse refuses OPTIMIZE on
a view): the statements go to `event_schedules_log`, the table behind it. These exact
statements are all that `hybrid-scheduler maintenance` sends, and all that the embedded
engine's read-only SQL endpoint lets through besides reads (devstack.sql_endpoint).
"""

from __future__ import annotations

# Every table with rows of its own (the views read these).
TABLES = ("event_schedules_log", "schedule_execution_results", "schedule_performance_metrics")


def optimize(table: str) -> str:
    """Merge every part now, keeping one version per schedule (ReplacingMergeTree)."""
    return f"OPTIMIZE TABLE {table} FINAL"


def check(table: str) -> str:
    """Verify the checksums of every part: one row per part (or one `result`), 1 = OK."""
    return f"CHECK TABLE {table}"


STATEMENTS = frozenset(op(table) for table in TABLES for op in (optimize, check))
