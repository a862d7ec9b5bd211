"""A write no replica acknowledges is never reported as stored by a real role process:
the API answers 503 with Retry-After naming the setting, the consumer commits no offset,
and both succeed once the replica is back."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from conftest import committed_offsets, eventually, role_process

from devstack.services import free_port
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.replication.conftest import ReplicatedRedis


async def test_api_and_consumer_refuse_what_no_replica_acknowledged(
    settings: Settings,
    replicated_redis: ReplicatedRedis,
    producer: AIOKafkaProducer,
    tmp_path: Path,
    uid: str,
) -> None:
    await ensure_topics(settings, [settings.delayed_topic, settings.dead_letter_topic])
    assert await eventually(replicated_redis.replicas_in_sync, timeout=30)
    replicated_redis.stop_replica()
    port = free_port()
    log = tmp_path / "serve.log"
    proc = role_process(
        settings,
        ["api", "consumer"],
        stderr=log.open("wb"),
        KAFKA_CONSUMER_GROUP=settings.consumer_group,
        SCHEDULES_API_PORT=str(port),
        SCHEDULES_REDIS_MIN_REPLICAS_ACK="1",
        SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT="0.2",
        **replicated_redis.env(),
    )
    api = f"http://127.0.0.1:{port}/api/v1/schedules"
    event = {"topic": f"t-{uid}", "body": "x", "delay_seconds": 600, "schedule_id": "api-1"}
    try:
        async with httpx.AsyncClient(timeout=10) as http:

            async def up() -> bool:
                assert proc.poll() is None, log.read_text()
                try:
                    return (await http.get(f"{api}/monitoring/health")).status_code == 200
                except httpx.TransportError:
                    return False

            assert await eventually(up, timeout=60, interval=0.2)
            refused = await http.post(api, json=event)
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert "only 0 of the 1 Redis replicas" in refused.json()["detail"]
            assert "SCHEDULES_REDIS_MIN_REPLICAS_ACK" in refused.json()["detail"]

            envelope = {**event, "schedule_id": "kafka-1"}
            await producer.send_and_wait(settings.delayed_topic, json.dumps(envelope).encode())
            assert await eventually(
                lambda: "ingest: storing a batch failed (NotReplicated" in log.read_text(),
                timeout=30,
            )
            assert await committed_offsets(settings) == 0

            replicated_redis.start_replica()
            assert await eventually(lambda: _committed(settings), timeout=30, interval=0.5), (
                log.read_text()[-3000:]
            )
            stored = await http.post(api, json=event)
            assert stored.status_code in (200, 201), stored.text
            for sid in ("api-1", "kafka-1"):
                status = await http.get(f"{api}/{sid}")
                assert status.json()["status"] == "scheduled", status.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _committed(settings: Settings) -> bool:
    return await committed_offsets(settings) == 1
