"""The ClickHouse interface behaves the same on both transports (see conftest `ch`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from pathlib import Path

import pytest

from scheduler.cold import ClickHouse, EmbeddedClickHouse, ServerClickHouse, connect_clickhouse
from scheduler.errors import ClickHouseQueryError, ServiceUnavailable, StartupError
from scheduler.settings import Settings

TABLE = """
CREATE TABLE items (
    id String,
    kind LowCardinality(String),
    state Enum8('pending' = 1, 'done' = 2),
    at DateTime64(6, 'UTC'),
    started Nullable(DateTime64(6, 'UTC')),
    note Nullable(String),
    big UInt64,
    tags Array(String)
) ENGINE = MergeTree ORDER BY id
"""
AT = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)


def test_transport_follows_settings(ch: ClickHouse, cold_settings: Settings) -> None:
    expected = ServerClickHouse if cold_settings.clickhouse_url else EmbeddedClickHouse
    assert isinstance(ch, expected)


async def test_parameters_bind_server_side(ch: ClickHouse) -> None:
    rows = await ch.query(
        "SELECT {s:String} AS s, {n:UInt64} + 1 AS n, {t:DateTime64(6,'UTC')} AS t,"
        " {tags:Array(String)} AS tags, currentDatabase() AS db",
        {"s": "it's a \\ test", "n": 2**63, "t": AT, "tags": ["a", "b'c"]},
    )
    assert rows == [
        {"s": "it's a \\ test", "n": 2**63 + 1, "t": AT, "tags": ["a", "b'c"], "db": ch.database}
    ]


async def test_insert_and_read_back_types(ch: ClickHouse) -> None:
    await ch.command(TABLE)
    utc = AT.replace(tzinfo=dt.UTC)
    rows = [
        (f"id-{i:06d}", f"k{i % 3}", "done" if i % 2 else "pending", utc, None if i % 2 else AT,
         None if i % 3 else "note", 2**64 - 1 - i, ["x"] * (i % 3))
        for i in range(100_000)
    ]  # fmt: skip
    columns = ("id", "kind", "state", "at", "started", "note", "big", "tags")
    await ch.insert("items", rows, columns)
    got = await ch.query("SELECT * FROM items WHERE id IN ('id-000000', 'id-000001') ORDER BY id")
    assert got == [
        {"id": "id-000000", "kind": "k0", "state": "pending", "at": AT, "started": AT,
         "note": "note", "big": 2**64 - 1, "tags": []},
        {"id": "id-000001", "kind": "k1", "state": "done", "at": AT, "started": None,
         "note": None, "big": 2**64 - 2, "tags": ["x"]},
    ]  # fmt: skip
    counts = await ch.query_rows("SELECT state, count() FROM items GROUP BY state ORDER BY state")
    assert counts.columns == ("state", "count()")
    assert counts.rows == [("pending", 50_000), ("done", 50_000)]


async def test_errors_carry_the_clickhouse_code(ch: ClickHouse) -> None:
    with pytest.raises(ClickHouseQueryError) as raised:
        await ch.query("SELECT * FROM no_such_table")
    assert raised.value.code == 60
    with pytest.raises(ClickHouseQueryError):
        await ch.command("SELEC 1")


async def test_concurrent_calls_share_the_pool(ch: ClickHouse) -> None:
    results = await asyncio.gather(
        *(ch.query("SELECT {i:UInt8} AS i, sleep(0.05)", {"i": i}) for i in range(10))
    )
    assert [r[0]["i"] for r in results] == list(range(10))


async def test_closed_client_refuses_calls(cold_settings: Settings) -> None:
    client = await connect_clickhouse(cold_settings)
    await client.close()
    with pytest.raises(ClickHouseQueryError, match="closed"):
        await client.query("SELECT 1")


async def test_unreachable_server_is_service_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServiceUnavailable):
        await connect_clickhouse(Settings(clickhouse_url=f"http://127.0.0.1:{port}/default"))


async def test_second_embedded_path_is_refused(chdb_path: Path, tmp_path: Path) -> None:
    other = EmbeddedClickHouse(tmp_path / "elsewhere")
    with pytest.raises(StartupError, match="one data path per process"):
        await other.query("SELECT 1")
    same = EmbeddedClickHouse(chdb_path)
    assert (await same.query("SELECT 1 AS one")) == [{"one": 1}]
    await same.close()
