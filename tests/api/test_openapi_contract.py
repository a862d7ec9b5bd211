"""The HTTP API keeps the contract /openapi.json states: schemathesis generates requests
for every operation (valid and invalid ones, the schema's own examples, boundary values,
sequences that follow the schema's links) and runs every check on every response: no 5xx;
status code, content type, headers and body as documented; a request the schema allows is
accepted (2xx, or 401/404/409) and one it forbids is refused (4xx); a resource a POST
created can be read. What is set aside, and why: `filter_failure` (and README, "Contract
testing").

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
import copy
import re
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
from schemathesis.core.failures import Failure
from schemathesis.core.result import Ok
from schemathesis.engine import events
from schemathesis.openapi.checks import RejectedPositiveData, UseAfterFree

from api.main import create_app
from api.server import EmbeddedServer
from devstack.services import ManagedProcess
from scheduler.cold import EmbeddedClickHouse
from scheduler.settings import Settings
from tests.conftest import isolated_settings

MAX_EXAMPLES = 50

RUN: dict[str, Any] = {
    "seed": 20261123,
    "generation": {
        "mode": "all",  # valid and invalid requests
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",  # nothing remembered between runs: every run is the same
    },
    # Every check is on (schemathesis's default), positive_data_acceptance included, in every
    # phase: examples, coverage and fuzzing (test_openapi_contract), stateful (test_stateful).
    # Every example is a round trip to Redis (ClickHouse, Kafka): slow by Hypothesis's
    # standards, and the schemas' size and filters are what they are.
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
}
CONFIG = SchemathesisConfig.from_dict(RUN)
# The schema /openapi.json serves (test_the_run_uses_the_served_schema checks it is the one),
# loaded at import so that `parametrize` makes one test per operation. Not from a fixture:
# schemathesis.pytest.from_fixture fails on pytest 9.2 (no `Function._nodeid` any more); not
# openapi.from_asgi: that keeps the app's lifespan (its SchedulerService) running in
# schemathesis's own event loop thread until the interpreter exits.
SCHEMA: dict[str, Any] = create_app(Settings()).openapi()
# A copy: the stateful phase adds inferred links to the schema it is given.
schema = schemathesis.openapi.from_dict(copy.deepcopy(SCHEMA), config=CONFIG)

# What the server refuses with 422 although JSON Schema cannot say it (README, "Contract
# testing"): the failing field and the server's words for it.
INEXPRESSIBLE = {
    # A body's size as published, JSON numbers JSON consumers cannot read exactly, nesting
    # deeper than the encoder goes, lone surrogates (JSON text can carry them, UTF-8 cannot).
    "body": re.compile(
        r"body (is \d+ bytes; the limit is|has an integer beyond 64 bits|is nested deeper"
        r"|contains a lone surrogate)"
    ),
    "headers": re.compile(r"headers total \d+ bytes; the limit is|contains a lone surrogate"),
    "entity_type": re.compile(r"contains a lone surrogate"),
    "action": re.compile(r"contains a lone surrogate"),
    "correlation_id": re.compile(r"contains a lone surrogate"),
    # now + delay_seconds (or an offset) beyond 9999-12-31; without the cold tier, beyond the
    # horizon: both depend on the clock (and the settings), which a schema cannot.
    "scheduled_at": re.compile(
        r"scheduled time is out of range|the cold tier is disabled \(SCHEDULES_COLD_TIER"
    ),
    # GET .../analytics/performance: start before end; a start left out is `hours` before
    # end, which may fall before 1971.
    "start": re.compile(r"start must be before end|must be between 1971 and 2200"),
    # Recurring schedules: a cron field's range, the time zone database, end after start.
    "cron": re.compile(r"not a valid cron expression"),
    "timezone": re.compile(r"unknown IANA time zone"),
    "end_at": re.compile(r"must be after start_at"),
    # GET /api/v1/schedules: a window's `from` before its `to`.
    "from": re.compile(r"from must be before to"),
}


def _inexpressible_422(response: Any) -> bool:
    if response.status_code != 422:
        return False
    problem = response.json()
    # A recurring schedule's event template (`event.body`) is refused as the event would be.
    rule = INEXPRESSIBLE.get(str(problem.get("field")).removeprefix("event.").split(".")[0])
    return rule is not None and rule.search(problem.get("detail", "")) is not None


def filter_failure(
    context: Any, failure: Failure, case: schemathesis.Case[Any], response: Any
) -> bool:
    """Every failure counts but these: a schema-valid request refused for a rule JSON
    Schema cannot state (INEXPRESSIBLE), and a cancelled schedule still readable after
    DELETE."""
    if isinstance(failure, RejectedPositiveData):
        return not _inexpressible_422(response)
    if isinstance(failure, UseAfterFree):
        # DELETE cancels: the schedule stays readable, as `cancelled`, for the retention.
        return not (response.status_code == 200 and response.json()["status"] == "cancelled")
    return True


schema.hook(filter_failure)


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


def test_stateful(base_url: str) -> None:
    """The stateful phase: sequences of calls following the schema's links (POST a
    schedule, then GET or DELETE it; DELETE, then GET), run by schemathesis's own engine
    (as `schemathesis run` does). Not a Hypothesis state machine under pytest: the server
    keeps state between scenarios (a schedule_id posted twice answers 200, not 201), which
    Hypothesis reports as flaky data generation; the engine expects that of a live API."""
    config = SchemathesisConfig.from_dict(
        {
            **RUN,
            "base-url": base_url,
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "fuzzing": {"enabled": False},
                "stateful": {"enabled": True},
            },
        }
    )
    stateful = schemathesis.openapi.from_dict(copy.deepcopy(SCHEMA), config=config)
    stateful.hook(filter_failure)
    failures, errors, scenarios = [], [], 0
    for event in schemathesis.engine.from_schema(stateful).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            for checks in event.recorder.checks.values():
                failures.extend(
                    f"{check.name}: {check.failure_info.failure.title}\n"
                    f"{check.failure_info.failure.message}\n{check.failure_info.code_sample}"
                    for check in checks
                    if check.failure_info is not None
                )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(event)
    assert not errors, errors
    assert not failures, "\n\n".join(failures)
    assert scenarios > 0


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
