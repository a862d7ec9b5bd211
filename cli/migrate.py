"""`hybrid-scheduler migrate`: apply pending ClickHouse migrations."""

from __future__ import annotations

from scheduler.cold import connect_clickhouse, migrate
from scheduler.settings import Settings


async def cmd_migrate(settings: Settings) -> None:
    ch = await connect_clickhouse(
        settings, database=settings.clickhouse_database, create_database=True
    )
    try:
        done = await migrate(ch, execution_history_ttl_days=settings.execution_history_ttl_days)
    finally:
        await ch.close()
    for step in done:
        print(f"applied {step}")
    print(f"ClickHouse database {ch.database!r} is up to date")
