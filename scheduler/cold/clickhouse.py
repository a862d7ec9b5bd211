"""Async access to ClickHouse: one interface, an embedded and a server transport.

Both transports are `clickhouse-connect` clients, so they send the same SQL, bind
`{name:Type}` parameters the same way (server-side), encode inserts and decode results
with the same Native codec, and return the same Python values (naive UTC datetimes for
DateTime64('UTC'), str for Enum8, None for NULL):

- `EmbeddedClickHouse`: the in-process chdb engine at a directory, through
  clickhouse-connect's chdb backend (each client owns a chdb handle on the one engine).
  chdb allows one data path per process; a second path raises `StartupError`. chdb is
  the `embedded` extra (development and tests): without it, `EmbeddedEngineMissing`.
- `ServerClickHouse`: a ClickHouse server over HTTP(S), from a URL like
  `http://user:pass@host:8123/db`.

The clients are synchronous and each handles one call at a time, so calls run in
worker threads (chdb releases the GIL) on a small pool of clients created on demand.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import Error as DriverError
from clickhouse_connect.driver.exceptions import OperationalError
from clickhouse_connect.driver.summary import QuerySummary

from scheduler.cold.queries import QUERIES
from scheduler.errors import (
    ClickHouseQueryError,
    EmbeddedEngineMissing,
    ServiceUnavailable,
    StartupError,
)
from scheduler.settings import Settings

Params = Mapping[str, Any]
T = TypeVar("T")


class Rows(NamedTuple):
    """A result as column names plus row tuples: cheaper than dicts for big results."""

    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


class ClickHouse:
    """A pool of clickhouse-connect clients bound to one database, used from asyncio."""

    transport = "abstract"

    def __init__(self, database: str, *, pool_size: int = 4) -> None:
        self.database = database
        self._pool_size = pool_size
        self._idle: queue.LifoQueue[Client] = queue.LifoQueue()
        self._created: list[Client] = []
        self._slots = queue.Queue[None](maxsize=pool_size)  # one token per client allowed
        self._closed = False

    def _new_client(self, database: str | None) -> Client:
        raise NotImplementedError

    async def command(self, sql: str, params: Params | None = None) -> str:
        """Run a statement (DDL, INSERT ... SELECT, ALTER, CHECK); return its text output,
        tab-separated, usually empty."""
        out = await self._call(lambda c: c.command(sql, parameters=dict(params or {})))
        if isinstance(out, str | int):
            return str(out)
        return "" if isinstance(out, QuerySummary) else "\t".join(map(str, out))

    async def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run a SELECT and return one dict per row."""
        rows = await self.query_rows(sql, params)
        return [dict(zip(rows.columns, row, strict=True)) for row in rows.rows]

    async def query_rows(
        self,
        sql: str,
        params: Params | None = None,
        *,
        column_formats: Mapping[str, str] | None = None,
    ) -> Rows:
        """Run a SELECT and return column names and row tuples. `column_formats` picks
        clickhouse-connect read formats per column, e.g. {"body": "bytes"} for binary."""

        def run(client: Client) -> Rows:
            result = client.query(
                sql, parameters=dict(params or {}), column_formats=dict(column_formats or {})
            )
            return Rows(tuple(result.column_names), result.result_rows)

        return await self._call(run)

    def query_rows_blocking(
        self, sql: str, params: Params | None = None, *, max_seconds: int
    ) -> Rows:
        """query_rows in the calling thread, which it blocks (never call it on the event
        loop): for a thread of its own, e.g. the metrics scrape's. It waits for a free
        client of the pool like any call; ClickHouse stops the query after `max_seconds`
        (max_execution_time)."""
        if self._closed:
            raise ClickHouseQueryError("the ClickHouse client is closed")

        def run(client: Client) -> Rows:
            limit = {"max_execution_time": max_seconds}
            result = client.query(sql, parameters=dict(params or {}), settings=limit)
            return Rows(tuple(result.column_names), result.result_rows)

        return self._run(run)

    async def raw(self, sql: str, fmt: str, *, settings: Mapping[str, Any] | None = None) -> bytes:
        """Run any statement and return ClickHouse's own output in format `fmt` (a FORMAT
        clause in `sql` wins). What `hybrid-scheduler sql` prints."""
        return await self._call(lambda c: c.raw_query(sql, fmt=fmt, settings=dict(settings or {})))

    async def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        column_oriented: bool = False,
    ) -> None:
        """Insert a batch of rows (values in `column_names` order) as one Native insert.
        `column_oriented`: `rows` holds one sequence per column instead (all of one
        length), which the Native format takes as it is.

        Datetimes should be UTC (aware, or naive meaning UTC).
        """
        if rows and (not column_oriented or rows[0]):
            names = list(column_names)
            await self._call(
                lambda c: c.insert(table, rows, column_names=names, column_oriented=column_oriented)
            )

    async def ping(self) -> None:
        """A round trip to ClickHouse: raises if it cannot answer a query."""
        await self.query(QUERIES["ping"])

    async def close(self) -> None:
        """Close every client. Calls already running finish first; later ones fail."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        for _ in range(self._pool_size):
            self._slots.put(None)  # wait until every client is back
        for client in self._created:
            client.close()
        self._created.clear()

    async def _call(self, fn: Callable[[Client], T]) -> T:
        if self._closed:
            raise ClickHouseQueryError("the ClickHouse client is closed")
        return await asyncio.to_thread(self._run, fn)

    def _run(self, fn: Callable[[Client], T]) -> T:
        self._slots.put(None)  # blocks this worker thread, never the event loop
        try:
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                client = self._guarded(lambda: self._new_client(self.database))
                self._created.append(client)
            try:
                return self._guarded(lambda: fn(client))
            finally:
                self._idle.put(client)
        finally:
            self._slots.get_nowait()

    def _guarded(self, fn: Callable[[], T]) -> T:
        """Run `fn`, turning driver errors into the product's own."""
        try:
            return fn()
        except OperationalError as exc:  # connection refused/reset, timeouts, 503
            raise ServiceUnavailable(f"ClickHouse ({self.transport}): {exc}") from exc
        except DriverError as exc:
            error = ClickHouseQueryError(str(exc))
            error.code = getattr(exc, "code", None)
            raise error from exc

    async def ensure_database(self) -> None:
        """Create this database if it does not exist yet (tests, first embedded start)."""

        def create() -> None:
            client = self._new_client(None)
            try:
                exists = client.query(
                    QUERIES["database_exists"], parameters={"db": self.database}
                ).result_rows
                if not exists:  # checked first: the user may lack CREATE on a server
                    client.command(f"CREATE DATABASE IF NOT EXISTS {_identifier(self.database)}")
            finally:
                client.close()

        await asyncio.to_thread(self._guarded, create)


class EmbeddedClickHouse(ClickHouse):
    """The chdb engine in this process, with its data under `path`."""

    transport = "embedded"

    def __init__(self, path: str | Path, database: str = "default", *, pool_size: int = 4):
        try:
            import chdb  # noqa: F401  (clickhouse-connect's chdb backend imports it later)
        except ImportError as exc:  # the `embedded` extra is not installed
            raise EmbeddedEngineMissing from exc
        super().__init__(database, pool_size=pool_size)
        self.path = Path(path).resolve()
        self.path.mkdir(parents=True, exist_ok=True)

    def _new_client(self, database: str | None) -> Client:
        try:
            return clickhouse_connect.get_client(
                interface="chdb", path=str(self.path), database=database
            )
        except DriverError as exc:
            text = str(exc).lower()
            if "path" in text or "unable to open" in text or "embeddedserver" in text:
                raise StartupError(
                    f"cannot open the embedded ClickHouse at {self.path}: {exc} "
                    "(chdb allows one data path per process, and one process per data "
                    "path: is a `hybrid-scheduler dev` or `serve` running on it? Beside "
                    "`dev`, use the CLICKHOUSE_URL it prints: set -a; . .dev/env; set +a)"
                ) from exc
            raise


class ServerClickHouse(ClickHouse):
    """A ClickHouse server reached over HTTP(S) at `url` (database from the URL path)."""

    transport = "server"

    def __init__(self, url: str, database: str | None = None, *, pool_size: int = 4) -> None:
        parts = urlsplit(url)
        super().__init__(database or parts.path.strip("/") or "default", pool_size=pool_size)
        self.url = urlunsplit(parts._replace(path=""))  # the database is chosen per client

    def _new_client(self, database: str | None) -> Client:
        # No session id: a session serialises its queries, and we use none of its state.
        return clickhouse_connect.get_client(
            dsn=self.url, database=database or "", autogenerate_session_id=False
        )


def _identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


async def connect_clickhouse(
    settings: Settings,
    *,
    database: str | None = None,
    create_database: bool = False,
    pool_size: int = 4,
) -> ClickHouse:
    """The server at `settings.clickhouse_url`, or else the embedded engine at
    `settings.clickhouse_path`; `database` overrides the URL's (tests isolate by it)."""
    ch: ClickHouse
    if settings.clickhouse_url:
        ch = ServerClickHouse(settings.clickhouse_url, database, pool_size=pool_size)
    else:
        ch = EmbeddedClickHouse(
            settings.clickhouse_path, database or "default", pool_size=pool_size
        )
    try:
        if create_database:
            await ch.ensure_database()
        await ch.ping()  # fail here, clearly, rather than on first use
    except BaseException:
        await ch.close()
        raise
    return ch
