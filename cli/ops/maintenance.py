"""`hybrid-scheduler maintenance optimize|check`: the runbook's `OPTIMIZE TABLE ... FINAL`
and `CHECK TABLE`, on the tables behind the views (scheduler.cold.upkeep).

Server mode (CLICKHOUSE_URL): straight to that server, as the runbook's clickhouse-client.
Embedded mode: through the running product's SQL endpoint (the one `hybrid-scheduler sql`
uses, which lets exactly these statements through), or, with no product running, on the
data directory itself.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from cli.ops.console import fail, show, spinner
from cli.sql import endpoint
from scheduler.cold import upkeep
from scheduler.cold.clickhouse import ServerClickHouse
from scheduler.errors import SchedulerError, ServiceUnavailable, StartupError
from scheduler.settings import Settings, load_settings


@dataclass
class Done:
    table: str
    seconds: float
    ok: bool
    result: str


def cmd_maintenance(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        if not settings.cold_tier_enabled:
            fail("the cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false): no ClickHouse")
            return 2
        done = asyncio.run(run(settings, args.action, args.table or upkeep.TABLES))
    except (ServiceUnavailable, StartupError) as exc:
        fail(str(exc))
        return 2
    except SchedulerError as exc:
        fail(str(exc))
        return 1
    table = Table()
    for column in ("table", "statement", "seconds", "result"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for d in done:
        statement = STATEMENT[args.action](d.table)
        result = escape(d.result) if d.ok else f"[bold red]{escape(d.result)}[/]"
        table.add_row(d.table, statement, f"{d.seconds:.2f}", result)
    show(f"maintenance {args.action}", table)
    return 0 if all(d.ok for d in done) else 1


STATEMENT = {"optimize": upkeep.optimize, "check": upkeep.check}


async def run(settings: Settings, action: str, tables: Sequence[str]) -> list[Done]:
    """Run `action` on each table, one after the other."""
    done: list[Done] = []
    with endpoint(settings) as url:
        ch = ServerClickHouse(url, settings.clickhouse_database, pool_size=1)
        try:
            with spinner(f"{action} {tables[0]}", total=len(tables)) as step:
                for i, table in enumerate(tables):
                    started = time.perf_counter()
                    output = await ch.raw(STATEMENT[action](table), "TabSeparatedWithNames")
                    ok, result = _check_result(output) if action == "check" else (True, "done")
                    done.append(Done(table, time.perf_counter() - started, ok, result))
                    step(f"{action} {tables[i + 1]}" if i + 1 < len(tables) else action)
        finally:
            await ch.close()
    return done


def _check_result(output: bytes) -> tuple[bool, str]:
    """CHECK TABLE answers one row per part (`part_path`, `is_passed`, `message`) or, with
    `check_query_single_value_result`, one `result`; 1 means the checksums match."""
    lines = output.decode().splitlines()
    if not lines:
        return True, "OK (no parts)"
    columns = lines[0].split("\t")
    rows = [dict(zip(columns, line.split("\t"), strict=False)) for line in lines[1:]]
    if "is_passed" in columns:
        failed = [r for r in rows if r.get("is_passed") != "1"]
        if not failed:
            return True, f"OK ({len(rows)} part{'s' if len(rows) != 1 else ''})"
        names = ", ".join(f"{r.get('part_path')}: {r.get('message') or 'failed'}" for r in failed)
        return False, f"FAILED: {names}"
    passed = all(r.get(columns[0]) == "1" for r in rows)
    return passed, "OK" if passed else "FAILED"
