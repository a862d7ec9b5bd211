"""`hybrid-scheduler sql`: read-only SQL for operators, in both ClickHouse modes.

- CLICKHOUSE_URL set: the query goes to that server with `readonly = 1`.
- Embedded: chdb lets one process open the data, and while the product runs that is the
  product. So `dev`/`serve` expose a read-only HTTP shim over their engine on
  127.0.0.1:SCHEDULES_CLICKHOUSE_SHIM_PORT, and the query goes there. With no product
  running, this process opens the data itself, behind the same read-only shim
  (devstack.sql_endpoint).

Writes are refused before they are sent (the statement must start with SELECT, WITH,
SHOW, DESCRIBE, DESC, EXPLAIN or EXISTS), and ClickHouse's own `readonly = 1` refuses
writes hidden inside a read (table functions, multiple statements).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator

from scheduler.cold.clickhouse import ServerClickHouse
from scheduler.cold.statements import READ_STATEMENTS, statement_kind
from scheduler.errors import ClickHouseQueryError, ReadOnlySql
from scheduler.settings import Settings

_HAS_FORMAT = re.compile(r"\bFORMAT\s+\w+\s*;?\s*$", re.I)


def check_read_only(sql: str) -> None:
    kind = statement_kind(sql)
    if kind not in READ_STATEMENTS:
        raise ReadOnlySql(
            f"refusing to run {kind or 'an empty statement'}: `hybrid-scheduler sql` is "
            f"read-only ({', '.join(sorted(READ_STATEMENTS))})"
        )


@contextlib.contextmanager
def endpoint(settings: Settings) -> Iterator[str]:
    """The ClickHouse URL (without database) for operator statements: CLICKHOUSE_URL,
    or the running product's endpoint over the embedded engine."""
    if settings.clickhouse_url:
        yield settings.clickhouse_url
        return
    from devstack.sql_endpoint import embedded_endpoint  # EmbeddedEngineMissing without chdb

    with embedded_endpoint(settings) as url:
        yield url


async def run_sql(settings: Settings, sql: str, fmt: str) -> bytes:
    """Run one read-only statement; returns ClickHouse's output in `fmt`."""
    check_read_only(sql)
    out_format = "" if _HAS_FORMAT.search(sql) else fmt  # the query's own FORMAT wins
    with endpoint(settings) as url:
        ch = ServerClickHouse(url, settings.clickhouse_database, pool_size=1)
        try:
            try:
                # readonly=1 from the client too, for a server whose user may write.
                return await ch.raw(sql, out_format, settings={"readonly": 1})
            except ClickHouseQueryError as exc:
                if "modify 'readonly'" not in str(exc):
                    raise
                # The user is read-only already and may not even restate it.
                return await ch.raw(sql, out_format)
        finally:
            await ch.close()


async def cmd_sql(settings: Settings, query: str, fmt: str | None) -> None:
    if fmt is None:
        fmt = "PrettyCompactMonoBlock" if sys.stdout.isatty() else "TabSeparatedWithNames"
    out = await run_sql(settings, query, fmt)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
