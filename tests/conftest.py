"""Real services, started once per test session; each test is isolated by names.

Redis and the Tansu Kafka-protocol broker run as child processes on free ports (see
devstack.services). A test gets its own Redis key prefix and its own topic
names, so tests never see each other's data and nothing is mocked.

ClickHouse is the real chdb engine, in this process: chdb opens one data path per
process, so there is one session path and each test gets a database of its own on it.
Tests that start product processes give those processes paths of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import chdb.session
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from dev_stack import Dev, running_dev
from redis.asyncio import Redis

from devstack.http_shim import HttpShim
from devstack.services import ManagedProcess, free_port, start_kafka, start_redis
from scheduler.cold import ClickHouse, EmbeddedClickHouse, migrate
from scheduler.cold.store import ColdStore
from scheduler.hot.client import connect
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore, Replication
from scheduler.kafka import make_producer
from scheduler.settings import Settings

Session: Any = chdb.session.Session  # chdb ships no type hints

# pytest-xdist's workers set COLUMNS=80 (and LINES) in their environment; the command line
# honours COLUMNS, so the CLI processes the tests start would wrap their tables at 80
# columns as they never do in a pipe (240). The tests run them as in a pipe.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


def pytest_configure(config: pytest.Config) -> None:
    # Tests opt in to the cold tier (the `hybrid_settings` fixture). Everything else, and
    # every product process a test starts, runs Redis-only unless told otherwise: never
    # on the developer's .dev/clickhouse, and never on this process's chdb path (which
    # no other process can open).
    os.environ["SCHEDULES_COLD_TIER_ENABLED"] = "false"
    os.environ["SCHEDULES_CLICKHOUSE_SHIM_PORT"] = "0"
    # Product processes run side by side: no metrics endpoint (9464) unless a test asks.
    os.environ["SCHEDULES_METRICS_PORT"] = "0"


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_server(services_dir: Path) -> Iterator[ManagedProcess]:
    proc = start_redis(free_port(), services_dir / "redis")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def kafka_broker(services_dir: Path) -> Iterator[ManagedProcess]:
    proc = start_kafka(free_port(), services_dir / "kafka")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's chdb engine; an anchor handle keeps it up between tests."""
    path = tmp_path_factory.mktemp("chdb").resolve()
    anchor = Session(str(path))
    yield path
    anchor.close()


@pytest.fixture(scope="session")
def shim(chdb_path: Path) -> Iterator[HttpShim]:
    """ClickHouse's HTTP interface over the session engine (the server transport's way in)."""
    with HttpShim(chdb_path) as server:
        yield server


@pytest.fixture(scope="session")
def readonly_shim(chdb_path: Path) -> Iterator[HttpShim]:
    with HttpShim(chdb_path, readonly=True) as server:
        yield server


class PrivateRedis:
    """A redis-server of one test's own, to kill and start again (same port, same AOF)."""

    def __init__(self, data_dir: Path, *extra_args: str) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.proc = start_redis(self.port, data_dir, extra_args=extra_args)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last AOF flush; connections drop at once."""
        self.proc.process.kill()
        self.proc.process.wait()

    def restart(self) -> None:
        self.proc = start_redis(self.port, self.data_dir, extra_args=self.extra_args)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """Every write fsynced before it is answered: what was accepted survives a SIGKILL."""
    server = PrivateRedis(tmp_path / "private-redis", "--appendfsync", "always")
    yield server
    server.proc.stop()


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def cold_db(chdb_path: Path, uid: str) -> AsyncIterator[ClickHouse]:
    """A migrated database of this test's own on the session engine, dropped afterwards."""
    client = EmbeddedClickHouse(chdb_path, f"t_{uid}", pool_size=8)
    await client.ensure_database()
    await migrate(client)
    yield client
    await client.command(f"DROP DATABASE IF EXISTS t_{uid}")
    await client.close()


@pytest.fixture
def cold(cold_db: ClickHouse) -> ColdStore:
    return ColdStore(cold_db)


@pytest.fixture
def hybrid_settings(settings: Settings, chdb_path: Path, cold_db: ClickHouse) -> Settings:
    """`settings` with the cold tier on: the session engine, this test's database."""
    return settings.model_copy(
        update={
            "cold_tier_enabled": True,
            "clickhouse_url": None,
            "clickhouse_path": chdb_path,
            "clickhouse_database": cold_db.database,
            "analytics_flush_interval": 0.2,
        }
    )


def isolated_settings(
    redis_server: ManagedProcess, kafka_broker: ManagedProcess, uid: str, **values: Any
) -> Settings:
    """Settings on these services with names (key prefix, topics, group) of their own."""
    return Settings(
        redis_url=f"redis://127.0.0.1:{redis_server.port}/0",
        kafka_bootstrap_servers=f"127.0.0.1:{kafka_broker.port}",
        redis_key_prefix=f"t{uid}:",
        delayed_topic=f"delayed-{uid}",
        dead_letter_topic=f"dlq-{uid}",
        consumer_group=f"group-{uid}",
        kafka_idempotent_producer=False,
        **values,
    )


@pytest.fixture
def settings(redis_server: ManagedProcess, kafka_broker: ManagedProcess, uid: str) -> Settings:
    """Settings pointing at the session's services, with this test's own names."""
    return isolated_settings(
        redis_server,
        kafka_broker,
        uid,
        redis_processing_interval=0.5,
        lease_seconds=5,
        kafka_request_timeout_ms=2000,
        breaker_reset_seconds=0.5,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def hot(redis: Redis, settings: Settings) -> HotStore:
    return HotStore(redis, Keys(settings.redis_key_prefix), shards=settings.redis_shards)


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(settings)
    await p.start()
    yield p
    await p.stop()


class TopicReader:
    """Reads every message of one topic from the beginning (no consumer group)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.messages: list[object] = []

    async def read(self, n: int, timeout: float = 30.0) -> list:  # type: ignore[type-arg]
        """Wait until at least `n` messages arrived in total; returns all of them."""

        async def fill() -> None:
            while len(self.messages) < n:
                batch = await self.consumer.getmany(timeout_ms=100)
                for recs in batch.values():
                    self.messages.extend(recs)

        await asyncio.wait_for(fill(), timeout)
        return self.messages

    async def settle(self, quiet: float = 1.0) -> list:  # type: ignore[type-arg]
        """Read until nothing new arrives for `quiet` seconds; returns all messages."""
        while True:
            batch = await self.consumer.getmany(timeout_ms=int(quiet * 1000))
            if not batch:
                return self.messages
            for recs in batch.values():
                self.messages.extend(recs)


@pytest.fixture
async def read_topic(settings: Settings) -> AsyncIterator[object]:
    consumers: list[AIOKafkaConsumer] = []

    async def open_reader(topic: str) -> TopicReader:
        c = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=None,
            metadata_max_age_ms=500,
        )
        await c.start()
        consumers.append(c)
        return TopicReader(c)

    yield open_reader
    for c in consumers:
        await c.stop()


@pytest.fixture
async def start_executor(settings: Settings) -> AsyncIterator[object]:
    """Run real executors (own Redis client and producer) for the test's duration."""
    from dataclasses import replace

    from scheduler.hot.executor import Executor, ExecutorConfig
    from scheduler.hot.outcome import Outcome

    running: list[tuple[Executor, asyncio.Task[None], Redis]] = []

    async def start(
        outcomes: list[Outcome] | None = None,
        settings_: Settings | None = None,
        **overrides: object,
    ) -> Executor:
        s = settings_ or settings
        client = connect(s)  # the product's factory: one Redis, Sentinel or Cluster
        producer = make_producer(s)
        await producer.start()

        async def record(batch: list[Outcome]) -> None:
            if outcomes is not None:
                outcomes.extend(batch)

        ex = Executor(
            HotStore(
                client,
                Keys(s.redis_key_prefix),
                replication=Replication.from_settings(s),
                shards=s.redis_shards,
            ),
            producer,
            replace(ExecutorConfig.from_settings(s), **overrides),  # type: ignore[arg-type]
            on_outcomes=record,
        )
        running.append((ex, asyncio.create_task(ex.run()), client))
        return ex

    yield start
    for ex, task, client in running:
        ex.stop()
        done, _ = await asyncio.wait([task], timeout=15)
        if not done:
            task.print_stack()
        await asyncio.wait_for(task, 1)
        await ex.producer.stop()
        await client.aclose()


async def eventually(check: object, timeout: float = 10.0, interval: float = 0.02) -> object:
    """Poll `check()` (sync or async) until it returns a truthy value; return it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)


@pytest.fixture
def drained(hot: HotStore) -> object:
    """`await drained()` is True once the test's hot tier holds nothing pending or in flight."""

    async def check() -> bool:
        async def empty() -> bool:
            counts = await hot.counts()
            return counts["pending"] == 0 and counts["in_flight"] == 0

        return bool(await eventually(empty))

    return check


async def committed_offsets(settings: Settings) -> int:
    """Total committed offset of the settings' consumer group on its delayed topic."""
    from aiokafka import TopicPartition

    c = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.consumer_group
    )
    await c.start()
    try:
        await c._client.force_metadata_update()
        parts = c.partitions_for_topic(settings.delayed_topic) or set()
        total = 0
        for p in parts:
            total += max(0, await c.committed(TopicPartition(settings.delayed_topic, p)) or 0)
        return total
    finally:
        await c.stop()


async def committed_is(settings: Settings, n: int) -> bool:
    """Whether the group's committed offsets on the delayed topic add up to `n`."""
    return await committed_offsets(settings) == n


def role_process(
    settings: Settings,
    role: str | Sequence[str],
    *,
    stderr: Any = subprocess.DEVNULL,
    **env: str,
) -> subprocess.Popen[bytes]:
    """A real `hybrid-scheduler serve --role <role> [--role ...]` process on the test's
    services and names (Redis prefix, topics); `env`: more settings, e.g.
    SCHEDULES_LEASE_SECONDS="4"."""
    roles = [role] if isinstance(role, str) else list(role)
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", *(arg for r in roles for arg in ("--role", r))],
        env={
            **os.environ,
            "REDIS_URL": settings.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "KAFKA_DELAYED_TOPIC_NAME": settings.delayed_topic,
            "KAFKA_DEAD_LETTER_TOPIC_NAME": settings.dead_letter_topic,
            "KAFKA_IDEMPOTENT_PRODUCER": "false",
            "KAFKA_REQUEST_TIMEOUT_MS": "2000",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """One real `hybrid-scheduler dev` for the session (tests/dev_stack.py)."""
    with running_dev(tmp_path_factory.mktemp("dev")) as running:
        yield running


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`hybrid-scheduler <args>` as its own process with `env`; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for_api(
    proc: subprocess.Popen[bytes],
    url: str,
    ready_path: str = "/api/v1/schedules/monitoring/health",
    log: Path | None = None,
) -> None:
    """Until `url + ready_path` answers 2xx (60 s at most); fails if `proc` stops (with
    its `log`, if given)."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text() if log else "the API process stopped"
        try:
            if httpx.get(f"{url}{ready_path}", timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.2)


@contextlib.contextmanager
def serving_api(
    env: dict[str, str],
    roles: Sequence[str],
    log: Path,
    ready_path: str = "/api/v1/schedules/monitoring/health",
) -> Iterator[str]:
    """A real `serve --role api [--role ...]` process on env's SCHEDULES_API_PORT, its
    stderr in `log`; yields its base URL once `ready_path` answers, SIGTERMs it after."""
    argv = [sys.executable, "-m", "cli", "serve", *(a for r in roles for a in ("--role", r))]
    with log.open("wb") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{env['SCHEDULES_API_PORT']}"
    try:
        wait_for_api(proc, url, ready_path, log)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
