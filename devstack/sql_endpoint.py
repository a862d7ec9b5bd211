"""The SQL endpoints over the embedded ClickHouse engine (chdb).

chdb lets one process open the data, and while the product runs that is the product. So
a product process on the embedded engine offers a read-only HTTP shim over it on
127.0.0.1:SCHEDULES_CLICKHOUSE_SHIM_PORT (`start_product_shim`), and `hybrid-scheduler
sql` sends its query there; with no product running, it opens the data itself, behind
the same read-only shim (`embedded_endpoint`). Besides reads, the shim runs the runbook's
table maintenance statements (scheduler.cold.upkeep: `hybrid-scheduler maintenance`).

`dev` serves a writable shim instead, on 127.0.0.1:SCHEDULES_DEV_CLICKHOUSE_PORT
(`dev_endpoint`): the way in for other local processes, which run on it as on a
ClickHouse server (CLICKHOUSE_URL). When both ports are the same (the default, 8123), it
is also where `sql` (which asks for readonly=1 itself) and `maintenance` find the engine.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
from collections.abc import Iterator
from pathlib import Path

# chdb's Session through http_shim, which raises EmbeddedEngineMissing without chdb.
from devstack.http_shim import HttpShim, Session
from scheduler.cold import upkeep
from scheduler.errors import StartupError
from scheduler.settings import Settings

log = logging.getLogger(__name__)

SHIM_HOST = "127.0.0.1"
SHIM_NAME = "chdb-shim"


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
            allowed=upkeep.STATEMENTS,
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


def dev_endpoint(settings: Settings) -> HttpShim:
    """`dev`'s ClickHouse HTTP interface (reads and writes) over its embedded engine on
    127.0.0.1:SCHEDULES_DEV_CLICKHOUSE_PORT: bound, not yet serving (`.start()`)."""
    try:
        return HttpShim(settings.clickhouse_path, host=SHIM_HOST, port=settings.dev_clickhouse_port)
    except OSError as exc:
        raise StartupError(
            f"cannot serve ClickHouse's HTTP interface on {SHIM_HOST}:"
            f"{settings.dev_clickhouse_port}: {exc} (is another `hybrid-scheduler dev` "
            "running? set SCHEDULES_DEV_CLICKHOUSE_PORT to a free port, or 0 for none)"
        ) from exc


@contextlib.contextmanager
def embedded_endpoint(settings: Settings) -> Iterator[str]:
    """The URL (without database) of a read-only endpoint over the embedded engine: the
    running product's, else one of this process's own."""
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
        anchor = Session(str(path.resolve()))  # holds the engine while the shim serves
    except RuntimeError as exc:
        raise StartupError(
            f"the embedded ClickHouse at {path.resolve()} is open in another process (a "
            f"running `hybrid-scheduler dev` or `serve`?) and no SQL endpoint answers on "
            f"{SHIM_HOST}:{port or '(SCHEDULES_CLICKHOUSE_SHIM_PORT=0)'}; set "
            f"SCHEDULES_CLICKHOUSE_SHIM_PORT to that process's port ({exc})"
        ) from exc
    try:
        with HttpShim(path, host=SHIM_HOST, readonly=True, allowed=upkeep.STATEMENTS) as shim:
            yield shim.url
    finally:
        anchor.close()
