"""Idempotency by schedule_id across both tiers under concurrency: whichever way callers
arrive at once (API, batch, Kafka), one schedule is stored and one caller told created."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from scheduler.cold.records import LIVE
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.ingest.consumer import DelayedEventsConsumer
from scheduler.kafka import ensure_topics, make_consumer
from scheduler.models import Limits
from scheduler.router import Router
from scheduler.settings import Settings

URL = "/api/v1/schedules"
FAR = 3 * 86400  # beyond the immediate horizon: the cold tier


async def live_rows(cold: ColdStore, sid: str) -> int:
    return sum(1 for s in await cold.find([sid]) if s.status in LIVE)


def event(sid: str, **kw: object) -> dict[str, object]:
    return {"topic": "t", "body": "b", "schedule_id": sid, **kw}


@pytest.mark.parametrize(
    "when",
    [
        {"delay_seconds": FAR},
        {"scheduled_at": (datetime.now(UTC) + timedelta(seconds=FAR)).isoformat()},
        {"delay_seconds": 5},  # hot
    ],
    ids=["cold-delay", "cold-fixed-time", "hot"],
)
async def test_concurrent_posts_of_one_id_store_one_and_create_once(
    hybrid_api: httpx.AsyncClient, cold: ColdStore, hot: HotStore, when: dict[str, object]
) -> None:
    answers = await asyncio.gather(
        *(hybrid_api.post(URL, json=event("same", **when)) for _ in range(20))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 19 + [201], [r.text for r in answers if r.status_code >= 300]
    assert sum(r.json()["created"] for r in answers) == 1
    in_redis = int(await hot.get("same") is not None)
    assert (await live_rows(cold, "same")) + in_redis >= 1
    if when.get("delay_seconds") != 5:
        assert await live_rows(cold, "same") == 1 and not in_redis


async def test_concurrent_batches_and_posts_of_one_id_create_once(
    hybrid_api: httpx.AsyncClient, cold: ColdStore
) -> None:
    one = event("b-same", delay_seconds=FAR)
    calls = [hybrid_api.post(f"{URL}/batch", json={"events": [one, one]}) for _ in range(5)]
    calls += [hybrid_api.post(URL, json=one) for _ in range(5)]
    answers = await asyncio.gather(*calls)
    created = 0
    for r in answers:
        assert r.status_code in (200, 201), r.text
        body = r.json()
        created += (
            sum(i["created"] for i in body["results"]) if "results" in body else body["created"]
        )
    assert created == 1
    assert await live_rows(cold, "b-same") == 1


async def test_a_cold_id_from_two_kafka_messages_is_one_schedule(
    hybrid_settings: Settings, producer: AIOKafkaProducer, cold: ColdStore, hot: HotStore
) -> None:
    """Two messages with one schedule_id (in one batch, and again in a later batch):
    different Kafka timestamps give different times, yet one live cold schedule."""
    s = hybrid_settings
    await ensure_topics(s, [s.delayed_topic])
    envelope = orjson.dumps(event("k-same", delay_seconds=FAR))
    for _ in range(3):
        await producer.send_and_wait(s.delayed_topic, envelope)
    consumer = make_consumer(s, s.delayed_topic, group_id=None)
    await consumer.start()
    try:
        records: list = []  # type: ignore[type-arg]
        while len(records) < 3:
            batch = await consumer.getmany(timeout_ms=500)
            records += [r for rs in batch.values() for r in rs]
        ingest = DelayedEventsConsumer(
            consumer,
            producer,
            Router(hot, s.immediate_horizon_seconds, cold=cold),
            Limits.from_settings(s),
            "dlq",
            batch_size=s.ingest_batch_size,
            max_dead_letter_bytes=s.max_body_bytes,
        )
        first = await ingest.handle(records[:2])
        again = await ingest.handle(records[2:])
    finally:
        await consumer.stop()
    assert (first.stored, first.duplicates) == (1, 1)
    assert (again.stored, again.duplicates) == (0, 1)
    assert await live_rows(cold, "k-same") == 1
