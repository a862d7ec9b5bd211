"""`hybrid-scheduler migrate` and `hybrid-scheduler sql`, as operators run them: separate
processes, with the product running (embedded engine behind its shim) and without."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from conftest import eventually, run_cli

from cold.runbook import PENDING_BY_STATUS, STUCK
from devstack.services import free_port
from devstack.sql_endpoint import shim_answers
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """A product of its own: the session's Redis and Kafka, its own embedded ClickHouse."""
    return {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "KAFKA_DELAYED_TOPIC_NAME": settings.delayed_topic,
        "KAFKA_DEAD_LETTER_TOPIC_NAME": settings.dead_letter_topic,
        "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SCHEDULES_COLD_TIER_ENABLED": "true",
        "SCHEDULES_CLICKHOUSE_PATH": str(tmp_path / "clickhouse"),
        "SCHEDULES_CLICKHOUSE_SHIM_PORT": str(free_port()),
        "SCHEDULES_LOG_LEVEL": "WARNING",
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args)


def test_sql_without_a_running_product(env: dict[str, str]) -> None:
    missing = cli(env, "sql", "SELECT 1")
    assert missing.returncode == 1 and "no embedded ClickHouse" in missing.stderr
    migrated = cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0001_event_schedules" in migrated.stdout
    assert "up to date" in cli(env, "migrate").stdout
    counts = cli(env, "sql", PENDING_BY_STATUS)
    assert (counts.returncode, counts.stdout) == (0, "status\tcount\tearliest\tlatest\n")
    one = cli(env, "sql", "SELECT 1 AS a, 'x' AS b FORMAT JSONEachRow")
    assert one.stdout == '{"a":1,"b":"x"}\n'


REFUSED = [
    ("DROP TABLE event_schedules_log", 2, "read-only"),
    ("INSERT INTO event_schedules_log (schedule_id) VALUES ('x')", 2, "read-only"),
    ("SELECT 1; DROP TABLE event_schedules_log", 1, "READONLY"),  # hidden in a read
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", 1, "READONLY"),
]


def test_sql_refuses_writes(env: dict[str, str]) -> None:
    assert cli(env, "migrate").returncode == 0
    for sql, code, message in REFUSED:
        refused = cli(env, "sql", sql)
        assert (refused.returncode, message in refused.stderr) == (code, True), refused.stderr
    assert cli(env, "sql", "EXISTS TABLE event_schedules_log").stdout.endswith("1\n")


@pytest.fixture
def running_product(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`serve --role sync` on the embedded engine (it holds the data path from now on)."""
    assert cli(env, "migrate").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--role", "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port = int(env["SCHEDULES_CLICKHOUSE_SHIM_PORT"])
    deadline = time.monotonic() + 60
    while not shim_answers(port):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the product never opened its SQL endpoint"
        time.sleep(0.1)
    yield proc
    proc.terminate()
    proc.wait(30)


def test_sql_reaches_the_running_product_through_its_shim(
    env: dict[str, str], running_product: subprocess.Popen[bytes]
) -> None:
    for query in (PENDING_BY_STATUS, STUCK, "SHOW TABLES"):
        done = cli(env, "sql", query)
        assert done.returncode == 0, done.stderr
    assert "event_schedules_log" in cli(env, "sql", "SHOW TABLES").stdout
    refused = cli(env, "sql", "SELECT 1; DROP TABLE event_schedules_log")
    assert refused.returncode == 1 and "READONLY" in refused.stderr
    # The product holds the data path: only through its endpoint can anyone read it.
    other = dict(env, SCHEDULES_CLICKHOUSE_SHIM_PORT="0")
    blocked = cli(other, "sql", "SELECT 1")
    assert blocked.returncode == 1, blocked.stdout
    assert "is open in another process" in blocked.stderr
    assert running_product.poll() is None


async def test_serve_runs_the_long_term_path_end_to_end(
    env: dict[str, str], producer: AIOKafkaProducer, read_topic, uid: str
) -> None:
    """`serve --role all` on the embedded engine: Kafka -> ClickHouse -> sync -> Redis ->
    fired once, journaled, and visible to `hybrid-scheduler sql` meanwhile."""
    topic = f"target-{uid}"
    short = {
        "SCHEDULES_IMMEDIATE_HORIZON_SECONDS": "2",
        "SCHEDULES_TRANSFER_HORIZON_SECONDS": "2",
        "SCHEDULES_CLICKHOUSE_SYNC_INTERVAL": "0.5",
        "SCHEDULES_ANALYTICS_FLUSH_INTERVAL": "0.2",
        "SCHEDULES_CLICKHOUSE_AUTO_MIGRATE": "true",
    }
    env = {**env, **short}
    settings = Settings(kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await ensure_topics(settings, [topic, env["KAFKA_DELAYED_TOPIC_NAME"]])
    reader = await read_topic(topic)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "serve", "--role", "all",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port = int(env["SCHEDULES_CLICKHOUSE_SHIM_PORT"])
        assert await eventually(lambda: shim_answers(port), timeout=60)
        # Cold (beyond the 2 s horizon) for ~10 s: long enough to see it there through
        # `sql` calls, each a process of its own, on a loaded machine.
        envelope = {"topic": topic, "body": "later", "delay_seconds": 12, "schedule_id": "e2e"}
        await producer.send_and_wait(env["KAFKA_DELAYED_TOPIC_NAME"], orjson.dumps(envelope))
        query = "SELECT status, tier FROM event_schedules WHERE schedule_id = 'e2e'"
        assert await eventually(lambda: sql_says(env, query, "pending\tcold"), timeout=30)
        (fired,) = await reader.read(1, timeout=30)
        assert fired.value == b"later"
        assert await eventually(lambda: sql_says(env, query, "executed\thot"), timeout=30)
        assert len(await reader.settle(1.0)) == 1
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def sql_says(env: dict[str, str], query: str, expected: str) -> bool:
    done = await asyncio.to_thread(cli, env, "sql", query)
    return expected in done.stdout
