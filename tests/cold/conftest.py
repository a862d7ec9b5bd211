"""Both ClickHouse transports on the session's engine (tests/conftest.py: chdb_path, shim).

The `ch` fixture runs a test twice: on the embedded transport, and on the server
transport (clickhouse-connect over HTTP) through the HTTP shim in front of the same
engine, so both transports meet the real engine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.http_shim import HttpShim
from scheduler.cold import ClickHouse, connect_clickhouse, migrate
from scheduler.settings import Settings


@pytest.fixture(params=["embedded", "server"])
def cold_settings(request: pytest.FixtureRequest, chdb_path: Path) -> Settings:
    """Settings selecting one transport; both reach the session's engine."""
    if request.param == "server":
        shim: HttpShim = request.getfixturevalue("shim")
        return Settings(clickhouse_url=f"{shim.url}/default", clickhouse_path=chdb_path)
    return Settings(clickhouse_url=None, clickhouse_path=chdb_path)


@pytest.fixture
async def ch(cold_settings: Settings) -> AsyncIterator[ClickHouse]:
    """A client on a fresh database of its own, dropped afterwards."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    client = await connect_clickhouse(cold_settings, database=database, create_database=True)
    yield client
    await client.command(f"DROP DATABASE IF EXISTS {database}")
    await client.close()


@pytest.fixture
async def migrated(ch: ClickHouse) -> ClickHouse:
    await migrate(ch)
    return ch
