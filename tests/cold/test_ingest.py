"""Kafka ingest with the cold tier: long-term events land in ClickHouse, hot ones are
journaled, and offsets are committed only once every event is in every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from conftest import committed_is, committed_offsets, eventually

from devstack.http_shim import HttpShim
from devstack.services import free_port
from scheduler.cold import ClickHouse
from scheduler.cold.records import Status
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings


def envelope(i: int, *, days: float) -> bytes:
    at = datetime.now(UTC) + timedelta(days=days)
    return orjson.dumps(
        {"topic": "t", "body": f"b{i}", "scheduled_at": at.isoformat(), "schedule_id": f"k{i}"}
    )


async def test_long_term_events_from_kafka_go_to_clickhouse(
    hybrid_settings: Settings, producer: AIOKafkaProducer, cold: ColdStore, hot: HotStore
) -> None:
    s = hybrid_settings
    await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
    for i in range(300):
        await producer.send(s.delayed_topic, envelope(i, days=30 if i % 3 else 0.01))
    await producer.flush()
    service = SchedulerService(s)
    await service.start(roles=["consumer"])
    try:
        assert await eventually(lambda: committed_is(s, 300), timeout=30)
        # Committed means stored: both tiers, journal included, without waiting further.
        counts = await cold.count_by_status([Status.PENDING, Status.TRANSFERRED])
        assert counts == {"pending": 200, "transferred": 100}
        assert (await hot.counts())["pending"] == 100
        stats = await service.get_stats()
        assert stats["ingest"] == {"stored": 300, "duplicates": 0, "dead_lettered": 0}
        assert stats["pending"] == 200
    finally:
        await service.stop()


async def test_offsets_wait_while_clickhouse_is_unreachable(
    hybrid_settings: Settings, producer: AIOKafkaProducer, cold_db: ClickHouse, chdb_path: Path
) -> None:
    port = free_port()
    shim = HttpShim(chdb_path, port=port).start()
    s = hybrid_settings.model_copy(
        update={"clickhouse_url": f"http://127.0.0.1:{port}/{cold_db.database}"}
    )
    await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
    service = SchedulerService(s)
    await service.start(roles=["consumer"])  # through the server transport
    try:
        shim.close()  # ClickHouse goes away
        for i in range(5):
            await producer.send_and_wait(s.delayed_topic, envelope(i, days=10))
        await eventually(lambda: False, timeout=3)  # the consumer keeps failing meanwhile
        assert await committed_offsets(s) == 0
        shim = HttpShim(chdb_path, port=port).start()  # back
        assert await eventually(lambda: committed_is(s, 5), timeout=30)
        rows = await ColdStore(cold_db).find([f"k{i}" for i in range(5)])
        assert sorted(r.event.schedule_id for r in rows) == [f"k{i}" for i in range(5)]
    finally:
        await service.stop()
        shim.close()
