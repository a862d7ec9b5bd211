"""The operator commands (`hybrid-scheduler stats|status|cancel|pause|resume|sync|cleanup|
tail|maintenance`), each run as its own process, as an operator runs it, against one real
product: `serve --role api --role executor` on the session's Redis and Kafka with an
embedded ClickHouse of its own (behind its SQL endpoint) and an API token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import isolated_settings, run_cli, serving_api

from devstack.http_shim import HttpShim
from devstack.services import ManagedProcess, free_port
from scheduler.cold import ClickHouse
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings

TOKEN = "operator-secret"
HORIZON = 3  # seconds: events due later go to ClickHouse, and the sync brings them back


@dataclass
class Product:
    url: str
    env: dict[str, str]  # what an operator's shell would have: the API's URL and token
    settings: Settings

    def post(self, **event: object) -> str:
        reply = httpx.post(
            f"{self.url}/api/v1/schedules",
            json=event,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        reply.raise_for_status()
        return str(reply.json()["schedule_id"])


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args, timeout=60)


def ok(env: dict[str, str], *args: str) -> str:
    done = cli(env, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def product(
    redis_server: ManagedProcess, kafka_broker: ManagedProcess, tmp_path_factory
) -> Iterator[Product]:
    settings = isolated_settings(redis_server, kafka_broker, uuid.uuid4().hex[:10])
    tmp: Path = tmp_path_factory.mktemp("operator")
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "KAFKA_DELAYED_TOPIC_NAME": settings.delayed_topic,
        "KAFKA_DEAD_LETTER_TOPIC_NAME": settings.dead_letter_topic,
        "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SCHEDULES_API_PORT": str(port),
        "SCHEDULES_API_TOKEN": TOKEN,
        "SCHEDULES_COLD_TIER_ENABLED": "true",
        "SCHEDULES_CLICKHOUSE_PATH": str(tmp / "clickhouse"),
        "SCHEDULES_CLICKHOUSE_AUTO_MIGRATE": "true",
        "SCHEDULES_CLICKHOUSE_SHIM_PORT": str(free_port()),
        "SCHEDULES_IMMEDIATE_HORIZON_SECONDS": str(HORIZON),
        "SCHEDULES_ANALYTICS_FLUSH_INTERVAL": "0.2",
        "SCHEDULES_REDIS_PROCESSING_INTERVAL": "0.5",
        "SCHEDULES_LOG_LEVEL": "WARNING",
    }
    log = tmp / "serve.log"
    with serving_api(env, ["api", "executor"], log) as url:
        yield Product(url, {**env, "SCHEDULES_API_URL": url}, settings)


def test_an_unreachable_api_is_one_clear_line(product: Product) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    for args, env in (
        (("stats", "--url", nowhere), product.env),
        (("pause", "--all"), {**product.env, "SCHEDULES_API_URL": nowhere}),
    ):
        done = cli(env, *args)
        assert done.returncode == 2, done
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert f"cannot reach the HTTP API at {nowhere}" in line
        assert "make dev" in line and "serve --role api" in line


def test_stats_pause_and_resume(product: Product) -> None:
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    table = ok(product.env, "stats")
    for row in ("Redis pending", "ClickHouse pending", "in flight", "paused"):
        assert row in table
    assert "normal" in table and "executor" in table
    stats = json.loads(ok(product.env, "stats", "--json"))
    assert stats["levels"] == {"redis_pending": "normal", "pending": "normal"}
    assert stats["paused"]["active"] is False and stats["running"] == {"executor": True}

    without_token = {k: v for k, v in product.env.items() if k != "SCHEDULES_API_TOKEN"}
    refused = cli(without_token, "pause", "--topic", topic)
    assert refused.returncode == 1 and "--token" in refused.stderr, refused
    assert f"topics {topic}" in ok(without_token, "pause", "--topic", topic, "--token", TOKEN)
    try:
        said = ok(product.env, "pause", "--priority-below", "0", "--reason", "high load")
        assert "priority < 0" in said and "high load" in said
        paused = json.loads(ok(product.env, "stats", "--json"))["paused"]
        assert paused["topics"] == [topic] and paused["priority_below"] == 0
        assert "everything" in ok(product.env, "pause", "--all")
        assert json.loads(ok(product.env, "stats", "--json"))["paused"]["all"] is True
        assert topic in ok(product.env, "stats")  # the pauses table

        after = json.loads(ok(product.env, "resume", "--topic", topic, "--json"))
        assert after["topics"] == [] and after["all"] is True
        ok(product.env, "resume", "--priority")
    finally:
        assert "nothing is paused" in ok(product.env, "resume", "--all")
    assert json.loads(ok(product.env, "stats", "--json"))["paused"]["active"] is False


def test_status_and_cancel(product: Product) -> None:
    sid = f"op-{uuid.uuid4().hex[:8]}"
    product.post(topic="reminders", body="x", delay_seconds=600, schedule_id=sid, priority=2)
    shown = ok(product.env, "status", sid)
    assert sid in shown and "pending" in shown and "cold" in shown and "reminders" in shown
    status = json.loads(ok(product.env, "status", sid, "--json"))
    assert (status["status"], status["tier"], status["priority"]) == ("pending", "cold", 2)

    assert ok(product.env, "cancel", sid).strip() == f"cancelled {sid} (it was pending)"
    assert json.loads(ok(product.env, "status", sid, "--json"))["status"] == "cancelled"
    again = cli(product.env, "cancel", sid)
    assert again.returncode == 1 and "already cancelled (409)" in again.stderr, again
    unknown = cli(product.env, "status", "no-such-schedule")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "hybrid-scheduler: no schedule 'no-such-schedule' (404)"


def test_sync_and_cleanup(product: Product) -> None:
    sid = f"cold-{uuid.uuid4().hex[:8]}"
    product.post(topic="later", body="y", delay_seconds=HORIZON + 1, schedule_id=sid)
    assert json.loads(ok(product.env, "status", sid, "--json"))["tier"] == "cold"
    time.sleep(1.5)  # now due within the horizon: the next sync moves it into Redis
    table = ok(product.env, "sync")
    assert "sync finished (via in_process)" in table and "transferred" in table
    status = json.loads(ok(product.env, "status", sid, "--json"))
    assert status["tier"] == "hot" and status["status"] in ("scheduled", "executed"), status
    again = json.loads(ok(product.env, "sync", "--json"))
    assert (again["job"], again["finished"], again["transferred"]) == ("sync", True, 0)
    cleaned = ok(product.env, "cleanup")
    assert "cleanup finished" in cleaned and "removed" in cleaned and "hot orphans" in cleaned


def test_tail_shows_a_fired_event_with_headers_and_lateness(product: Product) -> None:
    topic = f"tail-{uuid.uuid4().hex[:6]}"
    asyncio.run(ensure_topics(product.settings, [topic], partitions=2))
    empty = cli(product.env, "tail", topic, "--seconds", "0.5")
    assert empty.returncode == 0 and empty.stdout == "" and "0 events in" in empty.stderr

    def tail(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "tail", topic, *args],
            env=product.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    as_json, as_text = tail("--json", "--count", "1", "--seconds", "30"), tail("--seconds", "30")
    try:
        for proc in (as_json, as_text):  # each says when it reads from the end of the topic
            assert proc.stderr is not None
            assert "watching" in proc.stderr.readline()
        sid = product.post(topic=topic, body={"n": 1}, delay_seconds=1, headers={"origin": "test"})
        out, errors = as_json.communicate(timeout=30)
        assert as_json.returncode == 0, errors
        (line,) = out.splitlines()
        event = json.loads(line)
        assert event["value"] == '{"n":1}' and event["key"] == sid
        assert event["headers"]["schedule_id"] == sid and event["headers"]["origin"] == "test"
        assert 0 <= event["lateness_ms"] < 5000, event
        assert "1 event in" in errors and "lateness p50" in errors

        assert as_text.stdout is not None
        first = as_text.stdout.readline()  # the record line; then Ctrl-C ends the watch
        assert f"{topic}[" in first and "lateness +" in first and f"key={sid}" in first
        assert f"schedule_id={sid}" in as_text.stdout.readline()
        assert 'body: {"n":1}' in as_text.stdout.readline()
        as_text.send_signal(signal.SIGINT)
        _, errors = as_text.communicate(timeout=15)
        assert as_text.returncode == 0 and "1 event in" in errors, errors
    finally:
        for proc in (as_json, as_text):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_maintenance_through_the_running_products_endpoint(product: Product) -> None:
    checked = ok(product.env, "maintenance", "check")
    for table in ("event_schedules_log", "schedule_execution_results"):
        assert table in checked
    assert "FAILED" not in checked and checked.count("OK") == 3, checked
    optimized = ok(product.env, "maintenance", "optimize", "--table", "event_schedules_log")
    assert "OPTIMIZE TABLE event_schedules_log FINAL" in optimized and "done" in optimized


async def test_maintenance_on_a_clickhouse_server(
    product: Product, shim: HttpShim, cold_db: ClickHouse
) -> None:
    """CLICKHOUSE_URL: straight to the server (here the session engine's HTTP interface)."""
    env = {**product.env, "CLICKHOUSE_URL": f"{shim.url}/{cold_db.database}"}
    done = await asyncio.to_thread(cli, env, "maintenance", "optimize")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done") == 3
    done = await asyncio.to_thread(
        cli, env, "maintenance", "check", "--table", "event_schedules_log"
    )
    assert done.returncode == 0 and "OK" in done.stdout, done


def test_reschedule(product: Product) -> None:
    sid = f"re-{uuid.uuid4().hex[:8]}"
    product.post(topic="reminders", body="x", delay_seconds=600, schedule_id=sid)
    said = ok(product.env, "reschedule", sid, "--delay", "1", "--body", "sooner", "--priority", "3")
    assert said.startswith(f"rescheduled {sid}: "), said
    assert "(hot tier, moved from the cold tier)" in said
    deadline = time.monotonic() + 30
    while json.loads(ok(product.env, "status", sid, "--json"))["status"] != "executed":
        assert time.monotonic() < deadline, "the rescheduled event did not fire"
        time.sleep(0.2)
    again = cli(product.env, "reschedule", sid, "--at", "2030-01-01T09:00:00Z")
    assert again.returncode == 1 and "already executed (409)" in again.stderr, again
    unknown = cli(product.env, "reschedule", "no-such-schedule", "--delay", "5")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "hybrid-scheduler: no schedule 'no-such-schedule' (404)"

    other = f"re-{uuid.uuid4().hex[:8]}"
    product.post(topic="reminders", body="x", delay_seconds=600, schedule_id=other)
    naive = cli(product.env, "reschedule", other, "--at", "2030-01-01T09:00:00")
    assert naive.returncode == 1 and "scheduled_at" in naive.stderr and "(422)" in naive.stderr
    answer = json.loads(
        ok(product.env, "reschedule", other, "--at", "2030-01-01T09:00:00Z", "--json",
           "--header", "trace=abc", "--json-body", '{"n": 1}')
    )  # fmt: skip
    assert (answer["tier"], answer["scheduled_at"]) == ("cold", "2030-01-01T09:00:00Z")
    bad = cli(product.env, "reschedule", other, "--delay", "5", "--header", "novalue")
    assert bad.returncode == 1 and "NAME=VALUE" in bad.stderr, bad
