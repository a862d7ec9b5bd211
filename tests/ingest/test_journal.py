"""Kafka ingest with the cold tier: the journal rows of several consumed batches go into
ClickHouse in one insert, and an offset is committed only once its event is in Redis and
journaled (scheduler.ingest.journal)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from conftest import committed_is, committed_offsets, eventually, role_process
from prometheus_client import REGISTRY

from devstack.http_shim import HttpShim
from devstack.services import free_port
from scheduler.cold import ClickHouse
from scheduler.cold.records import Status
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings


def envelope(i: int) -> bytes:
    """A hot event (due in an hour), with an id of its own."""
    return orjson.dumps(
        {"topic": "t", "body": f"b{i}", "delay_seconds": 3600, "schedule_id": f"k{i}"}
    )


async def _send(producer: AIOKafkaProducer, settings: Settings, ids: range) -> None:
    for i in ids:
        await producer.send(settings.delayed_topic, envelope(i), key=f"k{i}".encode())
    await producer.flush()


async def _pending_is(hot: HotStore, n: int) -> bool:
    return (await hot.counts())["pending"] == n


async def _log_rows(ch: ClickHouse) -> int:
    rows = await ch.query("SELECT count() AS n FROM event_schedules_log")
    return int(rows[0]["n"])


def _inserts() -> float:
    return REGISTRY.get_sample_value("schedules_journal_flush_seconds_count") or 0.0


async def test_rows_of_several_batches_go_in_one_insert_before_their_commit(
    hybrid_settings: Settings,
    producer: AIOKafkaProducer,
    hot: HotStore,
    cold: ColdStore,
    cold_db: ClickHouse,
) -> None:
    s = hybrid_settings.model_copy(
        update={
            "ingest_batch_size": 10,
            "ingest_journal_batch_size": 100,
            "ingest_journal_flush_interval": 600,  # only a full insert, or the stop, writes
        }
    )
    await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
    await _send(producer, s, range(100))
    before = _inserts()
    service = SchedulerService(s)
    await service.start(roles=["consumer"])
    try:
        assert await eventually(lambda: committed_is(s, 100), timeout=30)
        assert _inserts() - before == 1  # ten consumed batches, one insert
        assert await _log_rows(cold_db) == 100
        await _send(producer, s, range(100, 150))
        # Stored in Redis at once; journaled (and committed) only with a full insert.
        assert await eventually(lambda: _pending_is(hot, 150), timeout=30)
        assert await committed_offsets(s) == 100
        assert await _log_rows(cold_db) == 100
    finally:
        await service.stop()  # a clean stop writes what is gathered, then commits it
    assert await committed_offsets(s) == 150
    found = await cold.find(f"k{i}" for i in range(150))
    assert len(found) == 150
    assert {f.status for f in found} == {Status.TRANSFERRED}


async def test_a_consumer_killed_before_the_journal_insert_commits_nothing_and_stores_once(
    hybrid_settings: Settings,
    producer: AIOKafkaProducer,
    hot: HotStore,
    cold: ColdStore,
    cold_db: ClickHouse,
    shim: HttpShim,
) -> None:
    s = hybrid_settings
    await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
    await _send(producer, s, range(50))
    env = {
        "KAFKA_CONSUMER_GROUP": s.consumer_group,
        "SCHEDULES_COLD_TIER_ENABLED": "true",
        # The test process holds the session's engine: the role reaches it over HTTP.
        "CLICKHOUSE_URL": f"{shim.url}/{cold_db.database}",
        "SCHEDULES_INGEST_JOURNAL_FLUSH_INTERVAL": "600",
    }
    proc = role_process(s, "consumer", **env)
    try:
        # Stored in Redis; the journal insert (and so the commit) waits for more rows.
        assert await eventually(lambda: _pending_is(hot, 50), timeout=60)
        assert await committed_offsets(s) == 0
        assert await _log_rows(cold_db) == 0
    finally:
        proc.kill()  # SIGKILL: the gathered rows are gone with the process
        proc.wait()
    again: subprocess.Popen[bytes] = role_process(
        s, "consumer", **{**env, "SCHEDULES_INGEST_JOURNAL_FLUSH_INTERVAL": "0.2"}
    )
    try:
        # Consumed again: Redis keeps its one copy, the journal gets its rows.
        assert await eventually(lambda: committed_is(s, 50), timeout=60)
    finally:
        again.terminate()
        again.wait()
    assert (await hot.counts())["pending"] == 50
    assert await _log_rows(cold_db) == 50
    found = await cold.find(f"k{i}" for i in range(50))
    assert sorted(f.event.schedule_id for f in found) == sorted(f"k{i}" for i in range(50))


async def test_stored_events_wait_for_clickhouse_before_their_offsets_are_committed(
    hybrid_settings: Settings,
    producer: AIOKafkaProducer,
    hot: HotStore,
    cold_db: ClickHouse,
    chdb_path: Path,
) -> None:
    port = free_port()
    shim = HttpShim(chdb_path, port=port).start()
    s = hybrid_settings.model_copy(
        update={
            "clickhouse_url": f"http://127.0.0.1:{port}/{cold_db.database}",
            "ingest_journal_flush_interval": 0.2,
        }
    )
    await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
    service = SchedulerService(s)
    await service.start(roles=["consumer"])  # through the server transport
    try:
        shim.close()  # ClickHouse goes away
        await _send(producer, s, range(5))
        # In Redis (the hot tier does not wait for ClickHouse), but not committed: the
        # journal insert is retried meanwhile.
        assert await eventually(lambda: _pending_is(hot, 5), timeout=30)
        assert await eventually(lambda: _insert_failed(service), timeout=30)
        assert await committed_offsets(s) == 0
        shim = HttpShim(chdb_path, port=port).start()  # back
        assert await eventually(lambda: committed_is(s, 5), timeout=30)
        assert await _log_rows(cold_db) == 5
    finally:
        await service.stop()
        shim.close()


def _insert_failed(service: SchedulerService) -> bool:
    consumer = service.runtime.consumer
    assert consumer is not None and consumer.journal is not None
    return consumer.journal.writing.down
