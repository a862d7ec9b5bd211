"""`hybrid-scheduler recurring ...`, each run as its own process against a real
`serve --role api` (Redis only) on the session's Redis and Kafka."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.services import ManagedProcess, free_port
from tests.conftest import isolated_settings, run_cli, serving_api


@pytest.fixture(scope="module")
def env(
    redis_server: ManagedProcess, kafka_broker: ManagedProcess, tmp_path_factory
) -> Iterator[dict[str, str]]:
    settings = isolated_settings(redis_server, kafka_broker, uuid.uuid4().hex[:10])
    port = free_port()
    base = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SCHEDULES_API_PORT": str(port),
        "SCHEDULES_LOG_LEVEL": "WARNING",
    }
    log: Path = tmp_path_factory.mktemp("recurring-cli") / "serve.log"
    with serving_api(base, ["api"], log, ready_path="/api/v1/recurring") as url:
        yield {**base, "SCHEDULES_API_URL": url, "COLUMNS": "200"}


def ok(env: dict[str, str], *args: str) -> str:
    done = run_cli(env, "recurring", *args, timeout=60)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


DEFINITION = {
    "recurring_id": "nightly",
    "cron": "30 2 * * *",
    "timezone": "Europe/Berlin",
    "event": {"topic": "reports", "body": {"kind": "nightly"}},
}


def test_preview_create_show_pause_resume_delete(env: dict[str, str], tmp_path: Path) -> None:
    # Preview before saving: the DST night fires at 03:00 CEST (01:00 UTC), once.
    unsaved = json.loads(
        ok(env, "preview", "--definition", json.dumps(DEFINITION), "--count", "400", "--json")
    )
    nominal = [o["nominal_at"] for o in unsaved["occurrences"]]
    assert "2027-03-28T01:00:00Z" in nominal and len(nominal) == len(set(nominal)) == 400
    assert "no recurring schedules" in ok(env, "list")

    path = tmp_path / "nightly.json"
    path.write_text(json.dumps(DEFINITION))
    assert "nightly: created" in ok(env, "create", f"@{path}")
    assert "exists already, unchanged" in ok(env, "create", f"@{path}")
    listed = ok(env, "list")
    assert "nightly" in listed and "cron 30 2 * * * (Europe/Berlin)" in listed
    assert "active" in listed
    shown = json.loads(ok(env, "show", "nightly", "--json"))
    assert (shown["version"], shown["event"]["topic"]) == (1, "reports")
    table = ok(env, "preview", "nightly", "--count", "3")
    assert table.count("nightly@1@") == 3

    assert "paused" in ok(env, "pause", "nightly")
    assert "paused" in ok(env, "list")
    assert "resumed" in ok(env, "resume", "nightly")
    assert "nightly@3@" in ok(env, "preview", "nightly", "--count", "1")
    assert "deleted nightly (version 3)" in ok(env, "delete", "nightly")

    done = run_cli(env, "recurring", "show", "nightly")
    assert done.returncode == 1 and "no recurring schedule 'nightly' (404)" in done.stderr
    bad = run_cli(env, "recurring", "create", json.dumps(DEFINITION | {"cron": "0 9 * *"}))
    assert bad.returncode == 1 and "cron" in bad.stderr and "(422)" in bad.stderr
    not_json = run_cli(env, "recurring", "create", "{oops")
    assert not_json.returncode == 1 and "not JSON" in not_json.stderr
