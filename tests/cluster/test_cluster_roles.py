"""A real `serve --role api --role executor --role consumer` on a Redis Cluster with
three shards (SCHEDULES_REDIS_CLUSTER, SCHEDULES_REDIS_SHARDS=3,
SCHEDULES_REDIS_MIN_REPLICAS_ACK=1): the HTTP API's operations, and a SIGKILL of a
primary mid-stream (its replica cut off first, so it lags) after which every event the
API answered 201/200 for and every delayed-topic message fires, none early."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from conftest import eventually, role_process

from devstack.services import free_port
from scheduler.hot.keys import Keys, shard_of
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.cluster.conftest import RedisClusterProcs
from tests.replication.test_failover import Stream, api_writer, fired_after_stream, kafka_writer

SHARDS = 3
LAG_WINDOW = 0.5  # seconds the primary takes writes its replica never gets


@pytest.fixture
def serve(settings: Settings, redis_cluster: RedisClusterProcs, tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    async def start() -> str:
        assert await eventually(redis_cluster.healthy, timeout=60)
        await ensure_topics(settings, [settings.delayed_topic, settings.dead_letter_topic])
        port = free_port()
        log = (tmp_path / "serve.log").open("ab")
        proc = role_process(
            settings,
            ["api", "executor", "consumer"],
            stderr=log,
            KAFKA_CONSUMER_GROUP=settings.consumer_group,
            SCHEDULES_API_PORT=str(port),
            SCHEDULES_REDIS_SHARDS=str(SHARDS),
            SCHEDULES_REDIS_MIN_REPLICAS_ACK="1",
            SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT="1",
            SCHEDULES_LEASE_SECONDS="5",
            SCHEDULES_INGEST_BATCH_SIZE="50",
            **redis_cluster.env(),
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}/api/v1/schedules"

        async def up() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{base}/monitoring/health")).status_code == 200
            except httpx.TransportError:
                return False

        assert await eventually(up, timeout=60, interval=0.2)
        return base

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_the_api_on_a_cluster(serve: object, read_topic: object, uid: str) -> None:
    base = await serve()  # type: ignore[operator]
    topic = f"fired-{uid}"
    reader = await read_topic(topic)  # type: ignore[operator]
    ids = [f"a{i}" for i in range(12)]
    assert {shard_of(i, SHARDS) for i in ids} == {0, 1, 2}
    async with httpx.AsyncClient(timeout=10) as http:
        batch = [{"topic": topic, "body": i, "delay_seconds": 1, "schedule_id": i} for i in ids]
        r = await http.post(f"{base}/batch", json={"events": batch})
        assert r.status_code in (200, 201, 207), r.text
        later = {"topic": topic, "body": "x", "delay_seconds": 600, "schedule_id": "later"}
        assert (await http.post(base, json=later)).status_code == 201
        assert (await http.get(f"{base}/later")).json()["status"] == "scheduled"
        r = await http.patch(f"{base}/later", json={"delay_seconds": 1200})
        assert r.status_code == 200, r.text
        stats = (await http.get(f"{base}/monitoring/stats")).json()
        assert stats["redis_pending"] >= 1
        assert (await http.delete(f"{base}/later")).status_code in (200, 204)
        messages = await reader.read(len(ids))  # type: ignore[attr-defined]
        assert sorted(dict(m.headers)["schedule_id"].decode() for m in messages) == sorted(ids)
        # A pause reaches every shard's claims; resuming fires what it held.
        r = await http.post(f"{base}/monitoring/pause", json={"all": True})
        assert r.status_code == 200, r.text
        held = [
            {"topic": topic, "body": f"h{i}", "delay_seconds": 0, "schedule_id": f"h{i}"}
            for i in range(6)
        ]
        r = await http.post(f"{base}/batch", json={"events": held})
        assert r.status_code in (200, 201, 207), r.text
        assert r.json()["accepted"] == 6, r.text
        stats = (await http.get(f"{base}/monitoring/stats")).json()
        assert stats["redis_pending"] == 6, stats
        assert (await http.post(f"{base}/monitoring/resume", json={"all": True})).status_code == 200
        messages = await reader.read(len(ids) + 6)  # type: ignore[attr-defined]
        # A rate limit set through the API is reported whole (each shard has its share).
        r = await http.put(f"{base}/monitoring/rate-limits/{topic}", json={"events_per_second": 30})
        assert r.status_code == 200, r.text
        assert r.json()["events_per_second"] == 30


async def test_sigkill_of_a_primary_mid_stream_loses_nothing(
    settings: Settings,
    redis_cluster: RedisClusterProcs,
    serve: object,
    producer: AIOKafkaProducer,
    read_topic: object,
    uid: str,
) -> None:
    base = await serve()  # type: ignore[operator]
    topic = f"fired-{uid}"
    await ensure_topics(settings, [topic])
    reader = await read_topic(topic)  # type: ignore[operator]
    stream = Stream()
    writers = [
        asyncio.create_task(api_writer(base, topic, stream)),
        asyncio.create_task(kafka_writer(producer, settings.delayed_topic, topic, stream)),
    ]
    # The primary of shard 0's slot goes.
    victim = redis_cluster.primary_of(Keys(settings.redis_key_prefix, 0).scheduled)
    try:
        assert await eventually(lambda: len(stream.api) >= 100 and len(stream.kafka) >= 100, 30)
        replica = await asyncio.to_thread(
            redis_cluster.cut_replica_then_kill_primary, victim, LAG_WINDOW
        )
        assert await eventually(lambda: redis_cluster.promoted(replica), timeout=60)
        promoted_at = len(stream.api)
        redis_cluster.restart(victim)  # back as the replica of the promoted node
        assert await eventually(lambda: len(stream.api) >= promoted_at + 100, timeout=60)
    finally:
        stream.stop.set()
        await asyncio.gather(*writers, return_exceptions=True)

    fired = await fired_after_stream(settings, stream, reader)
    lost = set(stream.acknowledged) - set(fired)
    early = [(s, at, due) for s, t in fired.items() for at, due in t if at < due - 0.001]
    report = {
        "acknowledged_api": len(stream.api),
        "acknowledged_kafka": len(stream.kafka),
        "refused_and_retried": stream.refused,
        "lost": len(lost),
        "fired_more_than_once": sum(len(t) > 1 for t in fired.values()),
    }
    print("cluster failover:", json.dumps(report))
    assert not early, early[:5]
    assert not lost, sorted(lost)[:20]
