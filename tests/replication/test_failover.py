"""Failover without loss: a steady stream of events through the HTTP API and the delayed
topic into a real `serve --role api --role executor --role consumer` on a primary, a
replica and three Sentinels; the primary is SIGKILLed mid-stream right after its link to
the replica was cut (the replica lags: what the primary accepts from then on exists on
the primary alone), and the Sentinels promote the replica.

With SCHEDULES_REDIS_MIN_REPLICAS_ACK=1 every event the API answered 201/200 for and every
message of the delayed topic fires afterwards, none before its time. Without it, the
events the primary acknowledged in that window are gone; the test prints how many (the
README's "Durability" reports the measured numbers)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import redis
from aiokafka import AIOKafkaProducer
from conftest import committed_offsets, eventually, role_process

from devstack.services import free_port
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.replication.conftest import ReplicatedRedis

LAG_WINDOW = 0.5  # seconds the primary takes writes its replica never gets


@dataclass
class Stream:
    """What the writers were told was stored, and when it is due (Unix s)."""

    api: dict[str, float] = field(default_factory=dict)
    kafka: dict[str, float] = field(default_factory=dict)
    refused: int = 0  # API answers other than 200/201 (503 while Redis is away), retried
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def acknowledged(self) -> dict[str, float]:
        return {**self.api, **self.kafka}


async def api_writer(url: str, topic: str, stream: Stream) -> None:
    """POST one event after another; an event is acknowledged by 201/200, and one that is
    not is posted again with its schedule_id until it is."""
    async with httpx.AsyncClient(timeout=15) as http:
        i = 0
        while not stream.stop.is_set():
            sid = f"api-{i}"
            body = {"topic": topic, "body": sid, "delay_seconds": 1 + i % 4, "schedule_id": sid}
            try:
                r = await http.post(url, json=body)
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code in (200, 201):
                stream.api[sid] = datetime.fromisoformat(r.json()["scheduled_at"]).timestamp()
                i += 1
            else:
                stream.refused += 1
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.01)


async def kafka_writer(
    producer: AIOKafkaProducer, delayed_topic: str, topic: str, stream: Stream
) -> None:
    i = 0
    while not stream.stop.is_set():
        sid = f"kafka-{i}"
        envelope = {"topic": topic, "body": sid, "delay_seconds": 1 + i % 4, "schedule_id": sid}
        md = await producer.send_and_wait(delayed_topic, json.dumps(envelope).encode())
        stream.kafka[sid] = md.timestamp / 1000 + 1 + i % 4  # delay counts from CreateTime
        i += 1
        await asyncio.sleep(0.01)


@pytest.fixture
def scheduler_process(
    settings: Settings, replicated_redis: ReplicatedRedis, tmp_path: Path
) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(min_replicas_ack: int, port: int) -> subprocess.Popen[bytes]:
        log = (tmp_path / "serve.log").open("ab")
        proc = role_process(
            settings,
            ["api", "executor", "consumer"],
            stderr=log,
            KAFKA_CONSUMER_GROUP=settings.consumer_group,
            SCHEDULES_API_PORT=str(port),
            SCHEDULES_REDIS_MIN_REPLICAS_ACK=str(min_replicas_ack),
            SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT="1",
            SCHEDULES_LEASE_SECONDS="5",
            SCHEDULES_INGEST_BATCH_SIZE="50",
            **replicated_redis.env(),
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cut_replica_then_kill_primary(cluster: ReplicatedRedis) -> int:
    """The replica stops hearing from the primary (frozen, its link closed by the
    primary); LAG_WINDOW later the primary dies and the replica runs again."""
    replica = cluster.servers[cluster.replica_port].process
    replica.send_signal(signal.SIGSTOP)
    try:
        primary = redis.Redis(port=cluster.primary_port, socket_timeout=2)
        primary.client_kill_filter(_type="replica")
        primary.close()
        time.sleep(LAG_WINDOW)  # the writers keep writing meanwhile (other threads/loop)
        return cluster.kill_primary()
    finally:
        replica.send_signal(signal.SIGCONT)


async def fired_after_stream(
    settings: Settings, stream: Stream, reader: object
) -> dict[str, list[tuple[float, float]]]:
    """Once every delayed-topic message of `stream` is committed, what fired on the target
    topic (read by `reader`): schedule_id -> [(record time, due time)], until everything
    acknowledged fired or every due time is a lease past."""
    # Everything the consumer will ever take is taken: every message's offset committed.
    sent = len(stream.kafka)
    committed = [0]

    async def all_committed() -> bool:
        committed[0] = await committed_offsets(settings)
        return committed[0] >= sent

    assert await eventually(all_committed, timeout=60, interval=0.5), (committed, sent)
    last_due = max(stream.acknowledged.values())
    fired: dict[str, list[tuple[float, float]]] = {}

    async def collected() -> bool:
        for m in reader.messages[sum(len(v) for v in fired.values()) :]:  # type: ignore[attr-defined]
            headers = dict(m.headers)
            due = datetime.fromisoformat(headers["scheduled_at"].decode()).timestamp()
            fired.setdefault(headers["schedule_id"].decode(), []).append((m.timestamp / 1000, due))
        if set(stream.acknowledged) <= set(fired):
            return True
        # Past every due time and a lease later, what has not fired never will.
        if time.time() > last_due + 15:
            return True
        await reader.settle(0.2)  # type: ignore[attr-defined]
        return False

    assert await eventually(collected, timeout=90, interval=0.1)
    return fired


async def run_failover(
    settings: Settings,
    cluster: ReplicatedRedis,
    scheduler_process: object,
    producer: AIOKafkaProducer,
    read_topic: object,
    uid: str,
    min_replicas_ack: int,
    tmp_path: Path,
) -> tuple[Stream, dict[str, list[tuple[float, float]]], set[str]]:
    topic = f"fired-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    assert await eventually(cluster.replicas_in_sync, timeout=30)
    port = free_port()
    proc = scheduler_process(min_replicas_ack, port)  # type: ignore[operator]
    base = f"http://127.0.0.1:{port}/api/v1/schedules"

    async def up() -> bool:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{base}/monitoring/health")).status_code == 200
        except httpx.TransportError:
            return False

    assert await eventually(up, timeout=60, interval=0.2)
    reader = await read_topic(topic)  # type: ignore[operator]
    stream = Stream()
    writers = [
        asyncio.create_task(api_writer(base, topic, stream)),
        asyncio.create_task(kafka_writer(producer, settings.delayed_topic, topic, stream)),
    ]
    try:
        assert await eventually(lambda: len(stream.api) >= 100 and len(stream.kafka) >= 100, 30)
        old = await asyncio.to_thread(cut_replica_then_kill_primary, cluster)
        assert await eventually(lambda: cluster.promoted(old), timeout=30)
        promoted_at = len(stream.api)
        cluster.restart_as_replica(old)  # the killed primary comes back as the replica
        # Writing works again through the new primary, also where a replica must ack.
        assert await eventually(lambda: len(stream.api) >= promoted_at + 100, timeout=60)
    finally:
        stream.stop.set()
        await asyncio.gather(*writers, return_exceptions=True)
    after = {sid for sid in stream.api if int(sid.split("-")[1]) >= promoted_at}

    fired = await fired_after_stream(settings, stream, reader)
    return stream, fired, after


@pytest.mark.parametrize("min_replicas_ack", [1, 0])
async def test_sigkill_of_the_primary_mid_stream(
    settings: Settings,
    replicated_redis: ReplicatedRedis,
    scheduler_process: object,
    producer: AIOKafkaProducer,
    read_topic: object,
    uid: str,
    tmp_path: Path,
    min_replicas_ack: int,
) -> None:
    stream, fired, after = await run_failover(
        settings,
        replicated_redis,
        scheduler_process,
        producer,
        read_topic,
        uid,
        min_replicas_ack,
        tmp_path,
    )
    lost = set(stream.acknowledged) - set(fired)
    early = [
        (sid, at, due) for sid, times in fired.items() for at, due in times if at < due - 0.001
    ]
    report = {
        "min_replicas_ack": min_replicas_ack,
        "acknowledged_api": len(stream.api),
        "acknowledged_kafka": len(stream.kafka),
        "refused_and_retried": stream.refused,
        "lost_api": len(lost & set(stream.api)),
        "lost_kafka": len(lost & set(stream.kafka)),
        "fired_more_than_once": sum(len(t) > 1 for t in fired.values()),
    }
    print("failover:", json.dumps(report))
    assert not early, early[:5]
    assert after <= set(fired), "events acknowledged after the failover must fire"
    if min_replicas_ack:
        assert not lost, sorted(lost)[:20]
