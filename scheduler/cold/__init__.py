"""The cold tier: ClickHouse storage of long-term schedules, the journal of every
schedule, the sync into Redis, recovery, cleanup and analytics (see README.md here).

`connect_clickhouse(settings)` picks the transport (a server at CLICKHOUSE_URL, else the
in-process chdb engine), `migrate()` brings the schema up to date, and
`check_migrations()` is what start-up calls to refuse a stale schema.
"""

from scheduler.cold.clickhouse import (
    ClickHouse,
    EmbeddedClickHouse,
    Rows,
    ServerClickHouse,
    connect_clickhouse,
)
from scheduler.cold.migrate import check_migrations, migrate

__all__ = [
    "ClickHouse",
    "EmbeddedClickHouse",
    "Rows",
    "ServerClickHouse",
    "check_migrations",
    "connect_clickhouse",
    "migrate",
]
