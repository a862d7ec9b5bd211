"""Kafka ingest: envelopes on the delayed topic, end to end on real Redis and Tansu."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from conftest import committed_is, committed_offsets, eventually
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from devstack.services import free_port, start_redis
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore
from scheduler.ingest.consumer import DelayedEventsConsumer
from scheduler.ingest.envelope import message_schedule_id
from scheduler.ingest.publish import publish_with_delay
from scheduler.kafka import ensure_topics, make_consumer
from scheduler.models import Limits
from scheduler.router import Router
from scheduler.service import SchedulerService
from scheduler.settings import Settings


async def test_envelope_fires_on_target_topic_with_body_and_headers(
    settings: Settings, producer: AIOKafkaProducer, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic])
    service = SchedulerService(settings)
    await service.start(roles=["executor", "consumer"])
    try:
        reader = await read_topic(topic)
        sent_at = time.time()
        sid = await publish_with_delay(
            producer,
            delayed_topic=settings.delayed_topic,
            topic=topic,
            body='{"user_id": 123, "message": "Don\'t forget!"}',
            delay_seconds=1.5,
            entity_type="user",
            action="send_reminder",
            correlation_id="reminder-123",
            headers={"priority": "high"},
        )
        (msg,) = await reader.read(1, timeout=30)
        assert msg.value == b'{"user_id": 123, "message": "Don\'t forget!"}'
        assert msg.key == b"reminder-123"
        h = dict(msg.headers)
        assert h["schedule_id"] == sid.encode()
        assert h["priority"] == b"high" and h["entity_type"] == b"user"
        assert h["action"] == b"send_reminder" and h["attempt"] == b"1"
        assert msg.timestamp / 1000 >= sent_at + 1.5 - 0.01  # not early (ms-rounded stamps)
        stats = await service.get_stats()
        assert stats["running"] == {"executor": True, "consumer": True}
        assert stats["ingest"]["stored"] == 1
    finally:
        await service.stop()


async def test_malformed_envelopes_are_dead_lettered_and_later_ones_still_fire(
    settings: Settings, producer: AIOKafkaProducer, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    naive = datetime.now().replace(tzinfo=None).isoformat()
    bad = [
        (b"not json at all", "Invalid JSON"),
        (orjson.dumps({"body": "x", "delay_seconds": 1}), "topic: Field required"),
        (orjson.dumps({"topic": "t", "body": "x", "delay_seconds": -5}), "delay_seconds"),
        (orjson.dumps({"topic": "t", "body": "x", "scheduled_at": naive}), "scheduled_at"),
        (orjson.dumps({"topic": "bad topic!", "body": "x", "delay_seconds": 1}), "topic"),
        (
            orjson.dumps(
                {"topic": "t", "body": "x", "delay_seconds": 1, "headers": {"attempt": "1"}}
            ),
            "reserved",
        ),
        # Valid JSON that once crashed the consumer (a poison pill) or passed validation
        # and then failed at the producer.
        (b'{"topic":"x","body":[123456789012345678901234567890],"delay_seconds":0}', "64 bits"),
        (b'{"topic":"x","body":{"n":NaN},"delay_seconds":0}', "NaN"),
        (b'{"topic":"x","body":' + b"[" * 300 + b"]" * 300 + b',"delay_seconds":0}', "recursion"),
        (b'{"topic":"t\\n","body":"x","delay_seconds":0}', "topic"),
        (b'{"topic":"t","body":"x","delay_seconds":0,"headers":{"h":"\\udc00"}}', "surrogate"),
    ]
    for value, _ in bad:
        await producer.send_and_wait(settings.delayed_topic, value, partition=0)
    good = {"topic": topic, "body": "good", "delay_seconds": 0, "schedule_id": f"good-{uid}"}
    await producer.send_and_wait(settings.delayed_topic, orjson.dumps(good), partition=0)

    service = SchedulerService(settings)
    await service.start(roles=["executor", "consumer"])
    try:
        dlq = await read_topic(settings.dead_letter_topic)
        target = await read_topic(topic)
        dead = await dlq.read(len(bad), timeout=30)
        (fired,) = await target.read(1, timeout=30)
        assert fired.value == b"good"
        by_value = {m.value: dict(m.headers) for m in dead}  # partitions interleave
        assert sorted(by_value) == sorted(v for v, _ in bad)  # bytes kept as they came
        for value, expected in bad:
            h = by_value[value]
            assert h["x-dlq-stage"] == b"ingest" and h["x-dlq-reason"] == b"invalid"
            assert expected in h["x-dlq-error"].decode(), h["x-dlq-error"]
            assert h["x-original-topic"] == settings.delayed_topic.encode()
        # every message, bad ones included, was committed: the consumer moved on
        assert await eventually(lambda: committed_is(settings, len(bad) + 1), timeout=20)
    finally:
        await service.stop()


async def test_event_beyond_the_horizon_is_dead_lettered_not_dropped(
    settings: Settings, producer: AIOKafkaProducer, read_topic, uid: str
) -> None:
    s = settings.model_copy(update={"immediate_horizon_seconds": 60})
    await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
    far = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    envelope = orjson.dumps({"topic": "t", "body": "later", "scheduled_at": far})
    await producer.send_and_wait(s.delayed_topic, envelope)
    service = SchedulerService(s)
    await service.start(roles=["consumer"])
    try:
        (dead,) = await (await read_topic(s.dead_letter_topic)).read(1, timeout=30)
        assert dead.value == envelope
        assert dict(dead.headers)["x-dlq-reason"] == b"beyond_horizon"
    finally:
        await service.stop()


async def test_a_redelivered_message_is_still_one_event(
    settings: Settings, producer: AIOKafkaProducer, hot: HotStore, uid: str
) -> None:
    await ensure_topics(settings, [settings.delayed_topic])
    envelope = {"topic": "t", "body": "once", "delay_seconds": 60}
    await producer.send_and_wait(settings.delayed_topic, orjson.dumps(envelope))
    consumer = make_consumer(settings, settings.delayed_topic, group_id=None)
    await consumer.start()
    try:
        records = []
        while not records:
            records = [r for rs in (await consumer.getmany(timeout_ms=500)).values() for r in rs]
        ingest = DelayedEventsConsumer(
            consumer,
            producer,
            Router(hot, settings.immediate_horizon_seconds),
            Limits.from_settings(settings),
            settings.dead_letter_topic,
            batch_size=settings.ingest_batch_size,
            max_dead_letter_bytes=settings.max_body_bytes,
        )
        first = await ingest.handle(records)
        again = await ingest.handle(records)  # e.g. a crash before the offset commit
    finally:
        await consumer.stop()
    assert (first.stored, first.duplicates) == (1, 0)
    assert (again.stored, again.duplicates) == (0, 1)
    assert (await hot.counts())["pending"] == 1
    assert await hot.get(message_schedule_id(records[0])) is not None


async def test_offsets_are_not_committed_while_redis_is_down(
    settings: Settings, producer: AIOKafkaProducer, uid: str, tmp_path: Path
) -> None:
    port = free_port()
    redis_proc = start_redis(port, tmp_path / "redis")
    s = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    await ensure_topics(s, [s.delayed_topic])
    service = SchedulerService(s)
    await service.start(roles=["consumer"])
    try:
        redis_proc.stop()
        for i in range(5):
            envelope = {"topic": "t", "body": f"b{i}", "delay_seconds": 600, "schedule_id": f"e{i}"}
            await producer.send_and_wait(s.delayed_topic, orjson.dumps(envelope))
        await eventually(lambda: False, timeout=3)  # the consumer keeps failing meanwhile
        assert await committed_offsets(s) == 0
        redis_proc = start_redis(port, tmp_path / "redis")  # same AOF directory
        assert await eventually(lambda: committed_is(s, 5), timeout=30)
        client = Redis.from_url(s.redis_url)
        try:
            assert await client.zcard(Keys(s.redis_key_prefix).scheduled) == 5
        finally:
            await client.aclose()
    finally:
        await service.stop()
        redis_proc.stop()


async def test_compressed_envelopes_fire(settings: Settings, read_topic, uid: str) -> None:
    """Producers may compress (Kafka clients often default to it): every codec Kafka
    defines is read, not retried forever as an undecodable batch."""
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic])
    codecs = ["gzip", "snappy", "lz4", "zstd"]
    for codec in codecs:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, compression_type=codec
        )
        await producer.start()
        try:
            envelope = {"topic": topic, "body": codec, "delay_seconds": 0, "schedule_id": codec}
            await producer.send_and_wait(settings.delayed_topic, orjson.dumps(envelope))
        finally:
            await producer.stop()
    service = SchedulerService(settings)
    await service.start(roles=["executor", "consumer"])
    try:
        fired = await (await read_topic(topic)).read(len(codecs), timeout=30)
        assert sorted(m.value.decode() for m in fired) == sorted(codecs)
    finally:
        await service.stop()


async def test_consumer_lag_is_exported(
    settings: Settings, producer: AIOKafkaProducer, hot: HotStore
) -> None:
    """schedules_ingest_lag_messages: what is on the delayed topic and not yet read."""
    await ensure_topics(settings, [settings.delayed_topic])
    envelope = orjson.dumps({"topic": "t", "body": "b", "delay_seconds": 600})
    for _ in range(10):
        await producer.send_and_wait(settings.delayed_topic, envelope, partition=0)
    consumer = make_consumer(settings, settings.delayed_topic, group_id=None)
    await consumer.start()
    ingest = DelayedEventsConsumer(
        consumer,
        producer,
        Router(hot, settings.immediate_horizon_seconds),
        Limits.from_settings(settings),
        settings.dead_letter_topic,
        batch_size=4,
        max_dead_letter_bytes=settings.max_body_bytes,
    )
    lag = "schedules_ingest_lag_messages"
    try:
        batches: dict = {}  # type: ignore[type-arg]
        while not batches:
            batches = await consumer.getmany(timeout_ms=500, max_records=4)
        ingest._record_lag(batches)
        assert REGISTRY.get_sample_value(lag) == 10 - sum(len(r) for r in batches.values())
        while sum(len(r) for r in batches.values()) or REGISTRY.get_sample_value(lag):
            batches = await consumer.getmany(timeout_ms=500, max_records=4)
            ingest._record_lag(batches)
        assert REGISTRY.get_sample_value(lag) == 0
    finally:
        await consumer.stop()
