"""`hybrid-scheduler serve` start-up: which roles `all` runs, and configuration errors
that name the setting to change. Real processes on the session's Redis and broker."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from conftest import eventually

from cli.logs import QuietRepeats
from cli.roles import expand_roles
from scheduler.errors import ConfigError
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics, make_producer
from scheduler.settings import Settings


def serve_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "KAFKA_DELAYED_TOPIC_NAME": settings.delayed_topic,
        "KAFKA_DEAD_LETTER_TOPIC_NAME": settings.dead_letter_topic,
        "KAFKA_CONSUMER_GROUP": settings.consumer_group,
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "SCHEDULES_COLD_TIER_ENABLED": "false",
        "SCHEDULES_REDIS_PROCESSING_INTERVAL": "0.5",
        "SCHEDULES_LOG_LEVEL": "INFO",
        **extra,
    }


def start_serve(env: dict[str, str], log: Path, *roles: str) -> subprocess.Popen[bytes]:
    args = [arg for role in roles for arg in ("--role", role)]
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def serve(env: dict[str, str], *roles: str) -> subprocess.CompletedProcess[str]:
    args = [arg for role in roles for arg in ("--role", role)]
    return subprocess.run(
        [sys.executable, "-m", "cli", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_serve_all_without_the_cold_tier_runs_the_roles_that_apply(
    settings: Settings, hot: HotStore, producer: AIOKafkaProducer, read_topic, uid, tmp_path
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    reader = await read_topic(topic)
    log = tmp_path / "serve.log"
    proc = start_serve(serve_env(settings), log, "all")
    try:

        def says(text: str) -> bool:
            assert proc.poll() is None, log.read_text()
            return text in log.read_text()

        assert await eventually(lambda: says("roles: executor, consumer"), timeout=30)
        assert "not running the sync role: the cold tier is disabled" in log.read_text()
        # The consumer stores it, the executor fires it.
        envelope = {"topic": topic, "body": "via kafka", "delay_seconds": 0, "schedule_id": "k1"}
        await producer.send_and_wait(settings.delayed_topic, orjson.dumps(envelope))
        (message,) = await reader.read(1, timeout=20)
        assert message.value == b"via kafka"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, log.read_text()


def test_serve_sync_without_the_cold_tier_stays_a_configuration_error(
    settings: Settings,
) -> None:
    done = serve(serve_env(settings), "sync")
    assert done.returncode == 1, done.stderr
    assert "the sync role needs the cold tier (SCHEDULES_COLD_TIER_ENABLED)" in done.stderr


async def test_a_broker_without_idempotent_producers_names_the_setting(
    settings: Settings,
) -> None:
    # The test broker (Tansu, memory engine) refuses InitProducerId.
    producer = make_producer(settings.model_copy(update={"kafka_idempotent_producer": True}))
    with pytest.raises(ConfigError, match="KAFKA_IDEMPOTENT_PRODUCER=false"):
        await producer.start()


def test_serve_against_a_broker_without_idempotent_producers_says_what_to_set(
    settings: Settings,
) -> None:
    done = serve(serve_env(settings, KAFKA_IDEMPOTENT_PRODUCER="true"), "executor")
    assert done.returncode == 1, done.stderr
    assert "set KAFKA_IDEMPOTENT_PRODUCER=false" in done.stderr
    assert "Traceback" not in done.stderr


def test_all_means_the_in_process_roles_that_apply(settings: Settings) -> None:
    cold = settings.model_copy(update={"cold_tier_enabled": True})
    assert expand_roles(["all"], settings) == ("executor", "consumer", "recurring")
    assert expand_roles(["all"], cold) == ("executor", "consumer", "sync", "recurring")
    assert expand_roles(["all", "worker"], cold) == ("executor", "consumer", "worker")
    assert expand_roles(["api", "all", "executor"], settings) == (
        "api",
        "executor",
        "consumer",
        "recurring",
    )
    assert expand_roles(["sync"], settings) == ("sync",)  # refused later, by name


def test_a_client_library_repeating_itself_is_logged_once_a_minute() -> None:
    now = [0.0]
    quiet = QuietRepeats(every=60.0, clock=lambda: now[0])
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(f"{record.name}: {record.getMessage()}")

    handler = Keep()
    handler.addFilter(quiet)
    library, ours = logging.getLogger("aiokafka.test-quiet"), logging.getLogger("scheduler.q")
    for logger in (library, ours):
        logger.addHandler(handler)
        logger.propagate = False
    try:
        for attempt in range(50):  # a broker down: one error per reconnect attempt
            library.error("Unable connect to node with id %s: attempt %d", 1, attempt)
            ours.warning("ours, always %d", attempt)
        now[0] = 61.0
        library.error("Unable connect to node with id %s: attempt %d", 1, 50)
    finally:
        for logger in (library, ours):
            logger.removeHandler(handler)
            logger.propagate = True
    theirs = [r for r in records if r.startswith("aiokafka")]
    assert theirs == [
        "aiokafka.test-quiet: Unable connect to node with id 1: attempt 0",
        "aiokafka.test-quiet: Unable connect to node with id 1: attempt 50 "
        "[49 more like this held back]",
    ]
    assert len(records) - len(theirs) == 50  # our own messages are never held back
