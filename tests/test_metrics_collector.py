"""The queue gauges (scheduler.metrics' ScrapedGauge) are read from Redis and ClickHouse
by a collector on each scrape (scheduler.collector), not refreshed as a side effect of the
stats; a store that hangs or refuses is left out within the timeout."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from devstack.services import free_port
from scheduler import collector
from scheduler.hot.keys import Keys
from scheduler.service import SchedulerService
from scheduler.settings import Settings
from tests.scraping import samples


async def scrape() -> dict[str, float]:
    """This process's registry, as a scrape sees it (in a thread, as a scrape runs)."""
    return samples((await asyncio.to_thread(generate_latest)).decode())


@pytest.mark.parametrize("shards", [1, 3])  # SCHEDULES_REDIS_SHARDS: the gauges add them up
async def test_queue_gauges_are_read_from_redis_on_each_scrape(
    settings: Settings, shards: int
) -> None:
    service = SchedulerService(settings.model_copy(update={"redis_shards": shards}))
    await service.start()
    try:
        for i in range(3):
            await service.schedule_event(topic="t", body=f"e{i}", delay_seconds=600)
        await service.pause("all", reason="metrics test")
        scraped = await scrape()
        stats = await service.get_stats()
        assert scraped["schedules_redis_pending"] == stats["redis_pending"] == 3
        assert scraped["schedules_in_flight"] == stats["in_flight"] == 0
        assert scraped["schedules_held"] == stats["paused"]["held"] == 0
        assert scraped["schedules_pauses"] == len(stats["paused"]["pauses"]) == 1
        # Read on scrape, not refreshed by the stats: the next scrape sees a change at once.
        await service.schedule_event(topic="t", body="e3", delay_seconds=600)
        await service.resume("all")
        scraped = await scrape()
        assert (scraped["schedules_redis_pending"], scraped["schedules_pauses"]) == (4, 0)
        assert "schedules_cold_pending" not in scraped  # no cold tier here
        gauges = service.runtime.gauges
        assert gauges is not None and collector._ACTIVE.stack[-1] is gauges
    finally:
        await service.stop()
    assert service.runtime.gauges is None and gauges not in collector._ACTIVE.stack


async def test_cold_pending_is_read_from_clickhouse_on_scrape(hybrid_settings: Settings) -> None:
    service = SchedulerService(hybrid_settings)
    await service.start()
    try:
        for i in range(2):  # beyond the immediate horizon (1 day): ClickHouse
            await service.schedule_event(topic="t", body=f"c{i}", delay_seconds=3 * 86400)
        scraped = await scrape()
        assert scraped["schedules_cold_pending"] == (await service.get_stats())["pending"] == 2
        assert scraped["schedules_redis_pending"] == 0
    finally:
        await service.stop()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Redis)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def test_a_store_that_hangs_is_left_out_within_the_timeout(
    silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    gauges = collector.StoreGauges(
        Settings(redis_url=f"redis://127.0.0.1:{silent_server}/0"), Keys(), timeout=0.5
    )
    caplog.set_level(logging.WARNING, logger="scheduler.collector")
    try:
        for _ in range(3):
            started = time.monotonic()
            assert list(gauges.collect()) == []
            assert time.monotonic() - started < 1.0
            # The hung read is waited for by the next scrape, never started twice.
            reads = [t for t in threading.enumerate() if t.name == "scrape-redis"]
            assert len(reads) <= 1
        warnings = [r for r in caplog.records if "queue gauges failed" in r.getMessage()]
        assert len(warnings) == 1, "one warning per outage"
    finally:
        gauges.close()


def test_a_store_that_refuses_is_left_out_at_once() -> None:
    gauges = collector.StoreGauges(
        Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"), Keys(), timeout=2
    )
    try:
        started = time.monotonic()
        assert list(gauges.collect()) == []
        assert time.monotonic() - started < 1.0
    finally:
        gauges.close()
