"""Executors live through Redis going away and coming back: a private redis-server is
killed (SIGKILL) and started again on the same port and AOF (fsync always). They log,
back off and resume; nothing accepted before the kill is lost."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from conftest import PrivateRedis, eventually, role_process
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from devstack.services import free_port, start_kafka
from scheduler.hot.executor import Executor
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings


@pytest.fixture
def own(settings: Settings, private_redis: PrivateRedis) -> Settings:
    """The test's settings on the private Redis."""
    return settings.model_copy(update={"redis_url": private_redis.url})


@pytest.fixture
async def own_hot(own: Settings) -> AsyncIterator[HotStore]:
    client = Redis.from_url(own.redis_url)
    yield HotStore(client, Keys(own.redis_key_prefix))
    await client.aclose()


async def listening(hot: HotStore, n: int) -> bool:
    """`n` executors are subscribed to the wake-up channel (none while Redis is down)."""
    try:
        ((_, count),) = await hot.redis.pubsub_numsub(hot.keys.wakeup)
    except Exception:
        return False
    return int(count) == n


def noticed(executors: list[Executor]) -> bool:
    """Every executor has run into the outage (or died of it: the test then fails)."""
    return all(ex.claiming.down or not ex.running for ex in executors)


def resumed(executors: list[Executor]) -> bool:
    return not any(ex.claiming.down for ex in executors)


async def fired(reader: AIOKafkaConsumer, seen: list[bytes]) -> set[bytes]:
    """Reads what arrived since the last call; returns every schedule_id seen so far."""
    for recs in (await reader.getmany(timeout_ms=100)).values():
        seen += [dict(r.headers)["schedule_id"] for r in recs]
    return set(seen)


def due_now(sid: str, topic: str) -> Event:
    return Event(schedule_id=sid, topic=topic, body=sid.encode(), scheduled_at=time.time())


async def scheduled(hot: HotStore, *events: Event) -> bool:
    """The test's own client fails once per connection it had open before the restart."""
    try:
        await hot.schedule(list(events))
    except RedisConnectionError:
        return False
    return True


async def drained(hot: HotStore) -> bool:
    try:
        counts = await hot.counts()
    except RedisConnectionError:
        return False
    return counts["pending"] == 0 and counts["in_flight"] == 0


async def test_idle_executors_live_through_a_redis_restart(
    own: Settings, own_hot: HotStore, private_redis: PrivateRedis, start_executor, read_topic, uid
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(own, [topic])
    reader = await read_topic(topic)
    executors = [await start_executor(settings_=own) for _ in range(2)]
    assert await eventually(lambda: listening(own_hot, 2))

    private_redis.kill()  # nothing is due: both are idle
    assert await eventually(lambda: noticed(executors))
    assert all(ex.running for ex in executors)

    private_redis.restart()
    assert await eventually(lambda: resumed(executors))
    assert await eventually(lambda: listening(own_hot, 2))  # wake-ups resubscribed
    assert await eventually(lambda: scheduled(own_hot, due_now("after", topic)))
    (message,) = await reader.read(1, timeout=10)
    assert dict(message.headers)["schedule_id"] == b"after"
    assert all(ex.running for ex in executors)


async def test_redis_lost_while_the_breaker_is_open(
    own: Settings, own_hot: HotStore, private_redis: PrivateRedis, start_executor, uid, tmp_path
) -> None:
    """With the breaker open an executor claims nothing and only reads the head of the
    queue to know how long to sleep: that read failing must not end it either."""
    port = free_port()
    own = own.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    topic = f"target-{uid}"
    broker = start_kafka(port, tmp_path / "kafka")
    try:
        await ensure_topics(own, [topic])
        ex = await start_executor(settings_=own, breaker_threshold=1, breaker_reset_seconds=3.0)
        broker.process.send_signal(signal.SIGSTOP)  # hung: the batch fails, the breaker opens
        await own_hot.schedule([due_now("e1", topic)])
        assert await eventually(lambda: ex.breaker.opened_total >= 1, timeout=15)

        private_redis.kill()  # while the breaker is open
        assert await eventually(lambda: noticed([ex]))
        assert ex.running

        private_redis.restart()
        broker.process.send_signal(signal.SIGCONT)
        reader = AIOKafkaConsumer(
            topic, bootstrap_servers=own.kafka_bootstrap_servers, auto_offset_reset="earliest"
        )
        await reader.start()
        try:
            seen: list[bytes] = []
            assert await eventually(lambda: fired(reader, seen), timeout=15) == {b"e1"}
        finally:
            await reader.stop()
        assert ex.running
    finally:
        broker.process.send_signal(signal.SIGCONT)
        broker.stop()


async def test_firing_executors_live_through_a_redis_restart_and_lose_nothing(
    own: Settings, own_hot: HotStore, private_redis: PrivateRedis, start_executor, read_topic, uid
) -> None:
    n = 3000
    topic = f"target-{uid}"
    await ensure_topics(own, [topic])
    reader = await read_topic(topic)
    start = time.time() + 0.5
    ids = {f"e{i}".encode() for i in range(n)}
    await own_hot.schedule(  # due over two seconds; accepted (fsynced) before the kill
        [
            Event(schedule_id=f"e{i}", topic=topic, body=b"x", scheduled_at=start + 2.0 * i / n)
            for i in range(n)
        ]
    )
    executors = [await start_executor(settings_=own) for _ in range(2)]
    await reader.read(n // 4, timeout=10)  # firing is under way

    private_redis.kill()
    assert await eventually(lambda: noticed(executors))
    assert all(ex.running for ex in executors)
    private_redis.restart()

    seen: list[bytes] = [dict(m.headers)["schedule_id"] for m in reader.messages]
    reader.messages.clear()
    assert await eventually(lambda: _all_fired(reader, seen, ids), timeout=20)
    assert all(ex.running for ex in executors)
    assert await eventually(lambda: drained(own_hot))


async def _all_fired(reader, seen: list[bytes], ids: set[bytes]) -> bool:  # type: ignore[no-untyped-def]
    return await fired(reader.consumer, seen) >= ids


def executor_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return role_process(
        settings,
        "executor",
        stderr=log.open("wb"),
        SCHEDULES_LEASE_SECONDS="5",
        SCHEDULES_REDIS_PROCESSING_INTERVAL="0.5",
        SCHEDULES_LOG_LEVEL="INFO",
    )


async def test_serve_executor_process_lives_through_a_redis_restart(
    own: Settings, own_hot: HotStore, private_redis: PrivateRedis, read_topic, uid, tmp_path
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(own, [topic])
    reader = await read_topic(topic)
    log = tmp_path / "executor.log"
    proc = executor_process(own, log)

    async def up() -> bool:
        assert proc.poll() is None, log.read_text()
        return await listening(own_hot, 1)

    def says(text: str) -> bool:
        return proc.poll() is not None or text in log.read_text()

    try:
        assert await eventually(up, timeout=20)
        private_redis.kill()
        assert await eventually(lambda: says("claiming due events failed"))
        assert proc.poll() is None, log.read_text()

        private_redis.restart()
        assert await eventually(up)
        assert await eventually(lambda: says("claiming due events works again"))
        assert await eventually(lambda: scheduled(own_hot, due_now("after", topic)))
        (message,) = await reader.read(1, timeout=10)
        assert dict(message.headers)["schedule_id"] == b"after"
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, log.read_text()
    assert log.read_text().count("claiming due events failed") == 1  # once per outage
