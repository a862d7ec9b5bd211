"""The HTTP shim: plain ClickHouse HTTP requests, and the read-only operator mode.

(The server transport's full behaviour through the shim is covered by every test that
uses the `ch` fixture.)
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.http_shim import HttpShim, statement_kind
from scheduler.cold import ClickHouse, EmbeddedClickHouse, ServerClickHouse, migrate, upkeep
from scheduler.errors import ClickHouseQueryError


@pytest.fixture
def http(shim: HttpShim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shim.url) as client:
        yield client


@pytest.fixture
async def operator(chdb_path: object, readonly_shim: HttpShim) -> AsyncIterator[ClickHouse]:
    """A migrated database written through the embedded transport, read by an operator."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    owner = EmbeddedClickHouse(str(chdb_path), database)
    await owner.ensure_database()
    await migrate(owner)
    reader = ServerClickHouse(f"{readonly_shim.url}/{database}")
    yield reader
    await reader.close()
    await owner.command(f"DROP DATABASE {database}")
    await owner.close()


def test_statement_kind() -> None:
    assert statement_kind("  -- runbook\n/* x */ (SELECT 1)") == "SELECT"
    assert statement_kind("with a as (select 1) select * from a") == "WITH"
    assert statement_kind("\n  INSERT INTO t VALUES (1)") == "INSERT"
    assert statement_kind("") == ""


def test_ping_and_plain_queries(http: httpx.Client) -> None:
    assert http.get("/ping").text == "Ok.\n"
    reply = http.post("/", content=b"SELECT 1 AS one, 'a' AS s")
    assert (reply.status_code, reply.text) == (200, "1\ta\n")
    assert reply.headers["X-ClickHouse-Format"] == "TabSeparated"
    reply = http.get(
        "/", params={"query": "SELECT {n:UInt8} * 2 AS n FORMAT JSONEachRow", "param_n": "21"}
    )
    assert reply.json() == {"n": 42}
    assert reply.headers["X-ClickHouse-Format"] == "JSONEachRow"


def test_errors_carry_code_and_status(http: httpx.Client) -> None:
    reply = http.post("/", content=b"SELECT * FROM no_such_table")
    assert reply.status_code == 404
    assert reply.headers["X-ClickHouse-Exception-Code"] == "60"
    assert "Unknown table" in reply.text


def test_compressed_and_chunked_inserts(http: httpx.Client) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    http.post("/", content=f"CREATE DATABASE {database}".encode()).raise_for_status()
    params = {"database": database}
    http.post("/", params=params, content=b"CREATE TABLE t (a UInt32) ENGINE = Memory")
    body = gzip.compress(b"INSERT INTO t FORMAT CSV\n1\n2\n3\n")
    reply = http.post("/", params=params, content=body, headers={"Content-Encoding": "gzip"})
    assert json.loads(reply.headers["X-ClickHouse-Summary"])["written_rows"] == "3"
    chunks = (f"{i}\n".encode() for i in range(10, 20))  # a generator: sent chunked
    http.post("/", params={**params, "query": "INSERT INTO t FORMAT CSV"}, content=chunks)
    reply = http.post("/", params=params, content=b"SELECT count(), sum(a) FROM t")
    assert reply.text == f"13\t{1 + 2 + 3 + sum(range(10, 20))}\n"
    http.post("/", content=f"DROP DATABASE {database}".encode()).raise_for_status()


async def test_readonly_allows_reads(operator: ClickHouse) -> None:
    rows = await operator.query("SELECT count() FROM event_schedules WHERE status = 'pending'")
    assert rows == [{"count()": 0}]
    assert await operator.query("SHOW TABLES LIKE 'event_schedules'") == [
        {"name": "event_schedules"}
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO event_schedules_log (schedule_id) VALUES ('x')",
        "DROP TABLE event_schedules_log",
        "OPTIMIZE TABLE event_schedules_log FINAL",
        "ALTER TABLE event_schedules_log DELETE WHERE 1",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",  # a write-class table function
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT 1; DROP TABLE event_schedules_log",
    ],
)
async def test_readonly_refuses_writes(operator: ClickHouse, sql: str) -> None:
    with pytest.raises(ClickHouseQueryError) as raised:
        await operator.command(sql)
    assert raised.value.code == 164  # READONLY, from the shim or from ClickHouse itself
    assert await operator.query("EXISTS TABLE event_schedules_log") == [{"result": 1}]


async def test_readonly_refuses_inserts_and_url_settings(
    operator: ClickHouse, readonly_shim: HttpShim
) -> None:
    with pytest.raises(ClickHouseQueryError):
        await operator.insert("event_schedules_log", [("x",)], ["schedule_id"])
    reply = httpx.post(
        readonly_shim.url,
        params={"readonly": "0", "database": operator.database},
        content=b"SELECT * FROM file('/etc/passwd', 'LineAsString')",
    )
    assert (reply.status_code, reply.headers["X-ClickHouse-Exception-Code"]) == (403, "164")


async def test_readonly_runs_the_allowed_maintenance_statements_only(
    chdb_path: object, operator: ClickHouse
) -> None:
    """The product's endpoint lets the runbook's OPTIMIZE/CHECK through (exactly those
    statements: `hybrid-scheduler maintenance`), and nothing that merely starts like them."""
    with HttpShim(str(chdb_path), readonly=True, allowed=upkeep.STATEMENTS) as shim:
        maintainer = ServerClickHouse(f"{shim.url}/{operator.database}")
        try:
            await maintainer.command("OPTIMIZE TABLE event_schedules_log FINAL")
            checked = await maintainer.raw("CHECK TABLE event_schedules_log;", "TSVWithNames")
            assert checked.startswith(b"part_path\tis_passed") or checked.startswith(b"result")
            for sql in (
                "OPTIMIZE TABLE event_schedules_log",  # not the allowed statement
                "OPTIMIZE TABLE event_schedules_log FINAL; DROP TABLE event_schedules_log",
                "OPTIMIZE TABLE schema_migrations FINAL",
            ):
                with pytest.raises(ClickHouseQueryError) as raised:
                    await maintainer.command(sql)
                assert raised.value.code == 164, sql
        finally:
            await maintainer.close()
    assert await operator.query("EXISTS TABLE event_schedules_log") == [{"result": 1}]
