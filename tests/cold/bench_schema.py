"""Measure the cold-tier schema on the real engine (not collected by pytest).

    .venv/bin/python -m tests.cold.bench_schema --rows 2000000 [--path DIR] [--variants]

Loads `rows` schedules (pending over the next 365 days, 30 days of finished history,
some processing/error/cancelled versions) through the real migrations, then times the
runbook's queries, the sync's due-window query and lookups by id through
EmbeddedClickHouse, checks every count against the generator, and prints JSON.
`--variants` also times the same queries over argMax / LIMIT 1 BY views.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
import time
import uuid
from typing import Any

from scheduler.cold import EmbeddedClickHouse, migrate

DAY = 86400
# Row n: scheduled_at spread over [now - 30 d, now + 365 d); due (past) rows were
# transferred then executed (every 10th: error); future rows stay pending, except
# every 50th cancelled and every 97th stuck in processing since two hours ago.
BASE = """
SELECT concat('s-', toString(number)) AS schedule_id,
    concat('topic.', toString(number % 5)) AS topic, 'user' AS entity_type,
    'remind' AS action, repeat('x', 200) AS body, toString(number) AS correlation_id,
    '{}' AS headers,
    {now:DateTime64(6,'UTC')} - INTERVAL 30 DAY
        + toIntervalSecond(intHash32(number) % (395 * 86400)) AS scheduled_at,
    (number % 97 = 0) AS stuck, (number % 50 = 0) AS cancel, (number % 10 = 0) AS failed
FROM numbers({offset:UInt64}, {count:UInt64})
"""
COLUMNS = (
    "schedule_id, topic, entity_type, action, body, correlation_id, headers, scheduled_at, "
    "status, tier, attempts, error, processing_started_at, created_at, updated_at, version"
)
VERSIONS = [
    ("'pending', 'cold', 0, NULL, NULL", 1, "1"),
    ("'transferred', 'hot', 1, NULL, NULL", 2, "scheduled_at < {now:DateTime64(6,'UTC')}"),
    (
        "if(failed, 'error', 'executed'), 'hot', 1, if(failed, concat('boom ', toString(cityHash64(schedule_id) % 3)), NULL), NULL",  # noqa: E501
        3,
        "scheduled_at < {now:DateTime64(6,'UTC')}",
    ),
    (
        "'cancelled', 'cold', 0, NULL, NULL",
        2,
        "scheduled_at >= {now:DateTime64(6,'UTC')} AND cancel AND NOT stuck",
    ),
    (
        "'processing', 'cold', 1, NULL, {now:DateTime64(6,'UTC')} - INTERVAL 2 HOUR",
        2,
        "scheduled_at >= {now:DateTime64(6,'UTC')} AND stuck",
    ),
]
QUERIES = {
    "runbook_pending_processing": "SELECT status, count() as count, min(scheduled_at) as earliest, max(scheduled_at) as latest FROM {v} WHERE status IN ('pending', 'processing') GROUP BY status",  # noqa: E501
    "runbook_count_pending": "SELECT count() FROM {v} WHERE status = 'pending'",
    "runbook_stuck": "SELECT * FROM {v} WHERE status = 'processing' AND processing_started_at < now() - INTERVAL 1 HOUR",  # noqa: E501
    "runbook_errors": "SELECT error, count() as count FROM {v} WHERE status = 'error' GROUP BY error ORDER BY count DESC",  # noqa: E501
    "runbook_pending_transfer": "SELECT count() as pending_transfer, min(scheduled_at) as earliest_pending FROM {v} WHERE status = 'pending' AND scheduled_at <= now() + INTERVAL 1 HOUR",  # noqa: E501
    "sync_due_window_10k": "SELECT * FROM {v} WHERE status = 'pending' AND scheduled_at <= {horizon:DateTime64(6,'UTC')} ORDER BY scheduled_at, schedule_id LIMIT 10000",  # noqa: E501
    "by_id": "SELECT status FROM {v} WHERE schedule_id = 's-12345'",
    "by_1000_ids": "SELECT schedule_id, status FROM {v} WHERE schedule_id IN {ids:Array(String)}",
}
VARIANT_VIEWS = {
    "limit1by": "SELECT * FROM event_schedules_log ORDER BY schedule_id, version DESC LIMIT 1 BY schedule_id",  # noqa: E501
    "argmax": "SELECT schedule_id, argMax(status, version) AS status, any(scheduled_at) AS scheduled_at, argMax(error, version) AS error, argMax(processing_started_at, version) AS processing_started_at FROM event_schedules_log GROUP BY schedule_id",  # noqa: E501
}


async def load(ch: EmbeddedClickHouse, rows: int, now: dt.datetime) -> dict[str, float]:
    timings = {}
    for values, version, where in VERSIONS:
        started = time.perf_counter()
        for offset in range(0, rows, 200_000):
            count = min(200_000, rows - offset)
            sql = (
                f"INSERT INTO event_schedules_log ({COLUMNS}) SELECT schedule_id, topic, "
                f"entity_type, action, body, correlation_id, headers, scheduled_at, {values}, "
                f"{{now:DateTime64(6,'UTC')}}, {{now:DateTime64(6,'UTC')}}, {version} "
                f"FROM ({BASE}) WHERE {where}"
            )
            await ch.command(sql, {"now": now, "offset": offset, "count": count})
        timings[f"load_version_{version}_{values.split(',')[0]}_s"] = time.perf_counter() - started
    return timings


async def expected(ch: EmbeddedClickHouse, rows: int, now: dt.datetime) -> dict[str, int]:
    sql = (
        "SELECT countIf(scheduled_at >= {now:DateTime64(6,'UTC')} AND NOT stuck AND NOT cancel)"
        " AS pending, countIf(scheduled_at >= {now:DateTime64(6,'UTC')} AND stuck) AS processing,"
        " countIf(scheduled_at < {now:DateTime64(6,'UTC')} AND failed) AS error"
        f" FROM ({BASE})"
    )
    return (await ch.query(sql, {"now": now, "offset": 0, "count": rows}))[0]


async def timed(ch: EmbeddedClickHouse, sql: str, params: dict[str, Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(3):
        started = time.perf_counter()
        result = await ch.query_rows(sql, params)
        best = min(best, time.perf_counter() - started)
    return best * 1000, result


async def transfer_costs(ch: EmbeddedClickHouse, now: dt.datetime) -> dict[str, float]:
    """Python-side costs of the ingest and sync paths: 100k full rows in, 1M rows out."""
    rows = [
        (f"b-{i}", "topic.0", "user", "remind", "x" * 200, str(i), "{}",
         now + dt.timedelta(days=400, seconds=i), "pending", "cold", now, now)
        for i in range(100_000)
    ]  # fmt: skip
    columns = (
        "schedule_id", "topic", "entity_type", "action", "body", "correlation_id", "headers",
        "scheduled_at", "status", "tier", "created_at", "updated_at",
    )  # fmt: skip
    started = time.perf_counter()
    await ch.insert("event_schedules_log", rows, columns)
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    out = await ch.query_rows(
        "SELECT * FROM event_schedules WHERE status = 'pending'"
        " ORDER BY scheduled_at, schedule_id LIMIT 1000000"
    )
    return {
        "insert_100k_event_rows_s": round(inserted, 3),
        "read_pending_rows": len(out.rows),
        "read_pending_rows_s": round(time.perf_counter() - started, 3),
    }


async def main(rows: int, path: str, variants: bool) -> dict[str, Any]:
    ch = EmbeddedClickHouse(path, f"bench_{uuid.uuid4().hex[:8]}")
    await ch.ensure_database()
    await migrate(ch)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    report: dict[str, Any] = {"rows": rows, **await load(ch, rows, now)}
    truth = await expected(ch, rows, now)
    params = {
        "horizon": now + dt.timedelta(hours=1),
        "ids": [f"s-{i * 997}" for i in range(1000)],
    }
    views = {"final_view": "event_schedules"}
    if variants:
        for name, body in VARIANT_VIEWS.items():
            await ch.command(f"CREATE VIEW IF NOT EXISTS v_{name} AS {body}")
            views[name] = f"v_{name}"
    for view_name, view in views.items():
        for name, sql in QUERIES.items():
            if view_name == "argmax" and name == "runbook_stuck":
                sql = sql.replace("SELECT *", "SELECT schedule_id")
            ms, result = await timed(ch, sql.replace("{v}", view), params)
            report[f"{view_name}.{name}_ms"] = round(ms, 1)
            if name == "runbook_pending_processing":
                got = {row[0]: row[1] for row in result.rows}
                assert got == {k: truth[k] for k in ("pending", "processing")}, (got, truth)
            if name == "runbook_errors":
                assert sum(row[1] for row in result.rows) == truth["error"]
    report.update(await transfer_costs(ch, now))
    parts = await ch.query(
        "SELECT count() AS parts, sum(rows) AS stored_rows FROM system.parts"
        " WHERE database = currentDatabase() AND table = 'event_schedules_log' AND active"
    )
    report.update(parts[0], expected=truth)
    await ch.command(f"DROP DATABASE {ch.database}")
    await ch.close()
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--path", default=None)
    parser.add_argument("--variants", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(main(args.rows, args.path or tmp, args.variants)), indent=1))
