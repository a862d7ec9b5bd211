"""The Python API (SchedulerService) on a Redis Cluster with three shards: schedule,
status, reschedule, cancel, pauses, stats, and the queue gauges a scrape reads from every
shard through the blocking cluster client."""

from __future__ import annotations

import asyncio

from conftest import eventually
from prometheus_client import generate_latest

from scheduler.service import SchedulerService
from scheduler.settings import Settings
from tests.cluster.conftest import RedisClusterProcs
from tests.cluster.test_cluster_store import settings
from tests.scraping import samples

__all__ = ["settings"]


async def test_the_python_api_on_a_cluster(
    settings: Settings, redis_cluster: RedisClusterProcs
) -> None:
    assert await eventually(redis_cluster.healthy, timeout=60)
    service = SchedulerService(settings)
    await service.start()
    try:
        ids = [
            await service.schedule_event(topic="t", body=f"e{i}", delay_seconds=600)
            for i in range(6)
        ]
        status = await service.get_status(ids[0])
        assert status is not None and status.status == "scheduled"
        moved = await service.reschedule(ids[1], delay_seconds=1200)
        assert moved is not None
        assert await service.cancel_event(ids[2])
        await service.pause("all", reason="cluster test")
        stats = await service.get_stats()
        assert stats["redis_pending"] == 5
        scraped = samples((await asyncio.to_thread(generate_latest)).decode())
        assert scraped["schedules_redis_pending"] == 5
        assert scraped["schedules_pauses"] == 1
        await service.resume("all")
        assert (await service.get_stats())["paused"]["pauses"] == []
    finally:
        await service.stop()
