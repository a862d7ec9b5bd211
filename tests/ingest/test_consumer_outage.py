"""The delayed-topic consumer lives through the broker and Redis going away: a private
Tansu broker or redis-server is killed (SIGKILL) and started again on the same port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from conftest import PrivateRedis, eventually
from redis.asyncio import Redis

from devstack.services import free_port, start_kafka
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics, make_producer
from scheduler.service import SchedulerService
from scheduler.settings import Settings


def envelope(sid: str) -> bytes:
    return orjson.dumps({"topic": "t", "body": sid, "delay_seconds": 600, "schedule_id": sid})


async def send(settings: Settings, *sids: str) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for sid in sids:
            await producer.send_and_wait(settings.delayed_topic, envelope(sid))
    finally:
        await producer.stop()


async def stored(hot: HotStore, *sids: str) -> bool:
    try:
        return all([await hot.get(sid) is not None for sid in sids])
    except Exception:  # the test's own client, on a Redis that was just restarted
        return False


@pytest.fixture
async def consuming(settings: Settings) -> AsyncIterator[list[SchedulerService]]:
    services: list[SchedulerService] = []
    yield services
    for service in services:
        await service.stop()


async def test_the_consumer_lives_through_a_broker_restart(
    settings: Settings, hot: HotStore, tmp_path: Path
) -> None:
    port = free_port()
    own = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    broker = start_kafka(port, tmp_path / "kafka")
    service = SchedulerService(own)
    try:
        await ensure_topics(own, [own.delayed_topic, own.dead_letter_topic])
        await service.start(roles=["consumer"])
        await send(own, "before")
        assert await eventually(lambda: stored(hot, "before"))

        broker.process.kill()
        broker.process.wait()
        broker = start_kafka(port, tmp_path / "kafka")  # the memory engine starts empty
        await ensure_topics(own, [own.delayed_topic, own.dead_letter_topic])
        await send(own, "after")
        assert await eventually(lambda: stored(hot, "after"), timeout=30)
        assert service.runtime.consumer is not None and service.runtime.consumer.running
    finally:
        await service.stop()  # before the broker goes: the consumer leaves its group
        broker.stop()


async def test_the_consumer_lives_through_a_redis_restart(
    settings: Settings, private_redis: PrivateRedis, consuming: list[SchedulerService]
) -> None:
    own = settings.model_copy(update={"redis_url": private_redis.url})
    await ensure_topics(own, [own.delayed_topic, own.dead_letter_topic])
    client = Redis.from_url(own.redis_url)
    hot = HotStore(client, Keys(own.redis_key_prefix))
    try:
        service = SchedulerService(own)
        consuming.append(service)
        await service.start(roles=["consumer"])
        consumer = service.runtime.consumer
        assert consumer is not None
        await send(own, "before")
        assert await eventually(lambda: stored(hot, "before"))

        private_redis.kill()
        await send(own, "during")
        assert await eventually(lambda: consumer.storing.down)
        private_redis.restart()
        await send(own, "after")
        assert await eventually(lambda: stored(hot, "before", "during", "after"), timeout=20)
        assert consumer.running and not consumer.storing.down
        assert consumer.storing.outages == 1  # one warning for the whole outage
    finally:
        await client.aclose()
