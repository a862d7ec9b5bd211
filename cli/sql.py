"""`hybrid-scheduler sql`: read-only SQL for operators, in both ClickHouse modes.

- CLICKHOUSE_URL set: the query goes to that server with `readonly = 1`.
- Embedded: chdb lets one process open the data, and while the product runs that is the
  product. So `dev`/`serve` expose a read-only HTTP shim over their engine on
  127.0.0.1:SCHEDULES_CLICKHOUSE_SHIM_PORT, and the query goes there. With no product
  running, this process opens the data itself, behind the same read-only shim.

Writes are refused before they are sent (the statement must start with SELECT, WITH,
SHOW, DESCRIBE, DESC, EXPLAIN or EXISTS), and ClickHouse's own `readonly = 1` refuses
writes hidden inside a read (table functions, multiple statements).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chdb.session

from scheduler.cold.clickhouse import ClickHouse, ServerClickHouse
from scheduler.cold.http_shim import READ_STATEMENTS, HttpShim, statement_kind
from scheduler.errors import ClickHouseQueryError, ReadOnlySql, StartupError
from scheduler.settings import Settings

log = logging.getLogger(__name__)

_Session: Any = chdb.session.Session  # chdb ships no type hints
SHIM_HOST = "127.0.0.1"
SHIM_NAME = "chdb-shim"
_HAS_FORMAT = re.compile(r"\bFORMAT\s+\w+\s*;?\s*$", re.I)


def check_read_only(sql: str) -> None:
    kind = statement_kind(sql)
    if kind not in READ_STATEMENTS:
        raise ReadOnlySql(
            f"refusing to run {kind or 'an empty statement'}: `hybrid-scheduler sql` is "
            f"read-only ({', '.join(sorted(READ_STATEMENTS))})"
        )


def shim_answers(port: int, timeout: float = 1.0) -> bool:
    """True if our read-only shim (not some other server) listens on the port."""
    conn = http.client.HTTPConnection(SHIM_HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        reply = conn.getresponse()
        reply.read()
        name = reply.getheader("X-ClickHouse-Server-Display-Name")
        return reply.status == 200 and name == SHIM_NAME
    except OSError:
        return False
    finally:
        conn.close()


def start_product_shim(settings: Settings) -> HttpShim | None:
    """The read-only endpoint a product process in embedded mode offers operators; None
    when there is nothing to offer (server mode, port 0) or the port is taken."""
    if settings.clickhouse_url or not settings.cold_tier_enabled:
        return None
    if not settings.clickhouse_shim_port:
        return None
    try:
        shim = HttpShim(
            settings.clickhouse_path,
            host=SHIM_HOST,
            port=settings.clickhouse_shim_port,
            readonly=True,
        )
    except OSError as exc:
        log.warning(
            "read-only SQL endpoint not started: port %d: %s (`hybrid-scheduler sql` will "
            "not reach this process; set SCHEDULES_CLICKHOUSE_SHIM_PORT)",
            settings.clickhouse_shim_port,
            exc,
        )
        return None
    log.info("read-only SQL endpoint: %s (hybrid-scheduler sql)", shim.start().url)
    return shim


@contextlib.contextmanager
def _endpoint(settings: Settings) -> Iterator[str]:
    """The URL (without database) to send a read-only query to."""
    if settings.clickhouse_url:
        yield settings.clickhouse_url
        return
    port = settings.clickhouse_shim_port
    if port and shim_answers(port):
        yield f"http://{SHIM_HOST}:{port}"
        return
    path = Path(settings.clickhouse_path)
    if not path.exists():
        raise StartupError(
            f"no embedded ClickHouse at {path.resolve()} (run `hybrid-scheduler migrate` "
            "or `hybrid-scheduler dev` first, or set SCHEDULES_CLICKHOUSE_PATH)"
        )
    # No product answering: open the data ourselves, behind the same read-only shim.
    try:
        anchor = _Session(str(path.resolve()))  # holds the engine while the shim serves
    except RuntimeError as exc:
        raise StartupError(
            f"the embedded ClickHouse at {path.resolve()} is open in another process (a "
            f"running `hybrid-scheduler dev` or `serve`?) and no SQL endpoint answers on "
            f"{SHIM_HOST}:{port or '(SCHEDULES_CLICKHOUSE_SHIM_PORT=0)'}; set "
            f"SCHEDULES_CLICKHOUSE_SHIM_PORT to that process's port ({exc})"
        ) from exc
    try:
        with HttpShim(path, host=SHIM_HOST, readonly=True) as shim:
            yield shim.url
    finally:
        anchor.close()


async def run_sql(settings: Settings, sql: str, fmt: str) -> bytes:
    """Run one read-only statement; returns ClickHouse's output in `fmt`."""
    check_read_only(sql)
    out_format = "" if _HAS_FORMAT.search(sql) else fmt  # the query's own FORMAT wins
    with _endpoint(settings) as url:
        ch: ClickHouse = ServerClickHouse(url, settings.clickhouse_database, pool_size=1)
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
