"""The HTTP API keeps the contract /openapi.json states: schemathesis generates requests
for every operation (valid and invalid ones, the schema's own examples, boundary values)
and checks every response: no 5xx, and status code, content type, headers and body as
documented.

The app runs on the real stack: uvicorn serving `api.main.create_app(settings)` (its
lifespan starts a SchedulerService) on the session's Redis and Kafka broker, in three
configurations: Redis only (sync, cleanup and analytics answer 409), with the cold tier
(the session's chdb engine, a database of its own), and with SCHEDULES_API_TOKEN set
(schemathesis sends no token: every mutating operation answers 401).

Deterministic (derandomized Hypothesis, fixed seed) and bounded: MAX_EXAMPLES per
operation and phase. A failure prints the check, the response and a curl command that
reproduces it; run `.venv/bin/pytest tests/api/test_openapi_contract.py -k 'POST and batch'`
to run one operation.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok

from api.main import create_app
from api.server import EmbeddedServer
from scheduler.cold import EmbeddedClickHouse
from scheduler.runtime.services import ManagedProcess
from scheduler.settings import Settings
from tests.conftest import isolated_settings

MAX_EXAMPLES = 50

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261123,
        "generation": {
            "mode": "all",  # valid and invalid requests
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",  # nothing remembered between runs: every run is the same
        },
        # Every check but one. positive_data_acceptance (a request the schema allows must get
        # a 2xx) does not hold here by design: bad input is 422 also where JSON Schema cannot
        # say it is bad ("exactly one of scheduled_at or delay_seconds", start before end,
        # beyond the horizon without the cold tier, reserved header names, body size limits,
        # exactly one pause scope), and GET/DELETE of an unknown schedule_id is 404.
        "checks": {"positive_data_acceptance": {"enabled": False}},
        # Every example is a round trip to Redis (ClickHouse, Kafka): slow by Hypothesis's
        # standards, and the schemas' size and filters are what they are.
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    }
)
# The schema /openapi.json serves (test_the_run_uses_the_served_schema checks it is the one),
# loaded at import so that `parametrize` makes one test per operation. Not from a fixture:
# schemathesis.pytest.from_fixture fails on pytest 9.2 (no `Function._nodeid` any more); not
# openapi.from_asgi: that keeps the app's lifespan (its SchedulerService) running in
# schemathesis's own event loop thread until the interpreter exits.
SCHEMA: dict[str, Any] = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)


@pytest.fixture(scope="module", params=["redis_only", "cold_tier", "token"])
def base_url(
    request: pytest.FixtureRequest,
    redis_server: ManagedProcess,
    kafka_broker: ManagedProcess,
    chdb_path: Path,
) -> Iterator[str]:
    """The API served by uvicorn on a free port, for the module's tests."""
    uid = uuid.uuid4().hex[:10]
    settings = isolated_settings(redis_server, kafka_broker, uid, kafka_request_timeout_ms=2000)
    database = f"t_{uid}"
    if request.param == "cold_tier":
        settings = settings.model_copy(
            update={
                "cold_tier_enabled": True,
                "clickhouse_url": None,
                "clickhouse_path": chdb_path,
                "clickhouse_database": database,
                "clickhouse_auto_migrate": True,
            }
        )
    elif request.param == "token":
        settings = settings.model_copy(update={"api_token": "s3cret"})
    server = EmbeddedServer(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name=f"api-{request.param}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the API did not start (its log is above)"
        assert time.monotonic() < deadline, "the API did not start within 30 s"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "the API did not stop within 30 s"
        if request.param == "cold_tier":
            asyncio.run(_drop_database(chdb_path, database))


async def _drop_database(path: Path, database: str) -> None:
    ch = EmbeddedClickHouse(path, "default")
    try:
        await ch.command(f"DROP DATABASE IF EXISTS {database}")
    finally:
        await ch.close()


@schema.parametrize()
def test_openapi_contract(case: schemathesis.Case[Any], base_url: str) -> None:
    case.call_and_validate(base_url=base_url)


def test_the_run_uses_the_served_schema(base_url: str) -> None:
    assert httpx.get(f"{base_url}/openapi.json").json() == SCHEMA


def test_every_operation_is_run() -> None:
    """The run covers every operation /openapi.json lists, the monitoring ones included."""
    operations = {
        f"{method.upper()} {path}" for path, item in SCHEMA["paths"].items() for method in item
    }
    run = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation schemathesis cannot test
        run.add(result.ok().label)
    assert run == operations
    assert len(run) >= 11
