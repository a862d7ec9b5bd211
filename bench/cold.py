"""Cold-tier benchmark scenarios, on the real chdb engine, in this process.

  inprocess_component_ingest_journal
                 hot-tier ingest with every batch journaled in         target >= 40,000/s
                 ClickHouse before its commit (one consumer in this
                 process; the deployed figure is bench/deployed.py's
                 `ingest_journal`)
  sync_1m        sync of 1,000,000 cold events into Redis              target <= 30 s
  due_window     the sync's due-window query with 10,000,000 pending   target <= 1 s
  cold_ingest    long-term events from the delayed topic into          target >= 50,000/s
                 ClickHouse

chdb opens one data path per process, so every scenario here uses one temporary path
(its own database on it). Register them with `SCENARIOS.update(COLD_SCENARIOS)`.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import BODY, Scenario, fill_delayed_topic
from scheduler.cold import ClickHouse, EmbeddedClickHouse, migrate
from scheduler.cold.store import ColdStore
from scheduler.cold.sync import SyncConfig, sync
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore
from scheduler.service import SchedulerService
from scheduler.settings import Settings


@functools.cache
def _path() -> Path:
    """The one chdb data path of this process, made on first use, removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="bench-chdb-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


# SCHEDULES_INGEST_BATCH_SIZE for the cold ingest: every consumed batch is one
# ClickHouse insert, and ClickHouse wants few, large inserts.
INGEST_BATCH = 10_000
# Pending schedules made by ClickHouse itself: 400-byte bodies, due `lo` ms from now
# plus a spread of `span` ms.
_FILL = """
INSERT INTO event_schedules_log (schedule_id, topic, entity_type, action, body,
    correlation_id, headers, scheduled_at, status, tier, created_at, updated_at, version)
SELECT concat({prefix:String}, toString(number)), 'user.notifications', 'user',
    'send_reminder', concat('{"user_id": 123456, "message": "', repeat('x', 366), '"}'),
    toString(number), '{"source":"bench"}',
    now64(6) + toIntervalMillisecond({lo:UInt64} + intHash32(number) % {span:UInt64}),
    'pending', 'cold', now64(6), now64(6), 1
FROM numbers({offset:UInt64}, {n:UInt64})
"""


async def _database(name: str) -> ClickHouse:
    ch = EmbeddedClickHouse(_path(), f"{name}_{uuid.uuid4().hex[:8]}", pool_size=8)
    await ch.ensure_database()
    await migrate(ch)
    return ch


async def _fill(ch: ClickHouse, prefix: str, n: int, lo_ms: int, span_ms: int) -> None:
    for offset in range(0, n, 2_000_000):
        await ch.command(
            _FILL,
            {"prefix": prefix, "lo": lo_ms, "span": span_ms, "offset": offset,
             "n": min(2_000_000, n - offset)},
        )  # fmt: skip


async def _drop(ch: ClickHouse) -> None:
    await ch.command(f"DROP DATABASE IF EXISTS {ch.database}")
    await ch.close()


async def bench_sync(settings: Settings, quick: bool) -> dict[str, Any]:
    n = 50_000 if quick else 1_000_000
    ch = await _database("bench_sync")
    redis = Redis.from_url(settings.redis_url)
    await redis.flushall()
    try:
        await _fill(ch, "due-", n, 60_000, 50 * 60_000)  # due within the next hour
        config = SyncConfig(
            86400,
            3600,
            batch_size=settings.sync_batch_size,
            processing_timeout_seconds=settings.processing_timeout_seconds,
        )
        result = await sync(ColdStore(ch), HotStore(redis, Keys("sync:")), config)
        in_redis = await redis.zcard(Keys("sync:").scheduled)
    finally:
        await redis.aclose()
        await _drop(ch)
    return {
        "events": n,
        "transferred": result.transferred,
        "in_redis": in_redis,
        "batch_size": settings.sync_batch_size,
        "seconds": round(result.seconds, 2),
        "events_per_second": round(n / result.seconds),
        "target_seconds": 30,
        "met": result.transferred == n == in_redis and result.seconds <= 30,
    }


async def bench_due_window(settings: Settings, quick: bool) -> dict[str, Any]:
    n = 500_000 if quick else 10_000_000
    ch = await _database("bench_due")
    try:
        started = time.perf_counter()
        await _fill(ch, "far-", n, 86_400_000, 364 * 86_400_000)  # 1 to 365 days out
        await _fill(ch, "due-", 20_000, 60_000, 50 * 60_000)
        load = time.perf_counter() - started
        cold = ColdStore(ch)
        until = int((time.time() + 3600) * 1e6)
        timings = []
        for _ in range(5):
            t = time.perf_counter()
            rows = await cold.due(until, 10_000)
            timings.append(time.perf_counter() - t)
        t = time.perf_counter()
        pending = await ch.query(
            "SELECT count() AS n FROM event_schedules WHERE status = 'pending'"
        )
        count_seconds = time.perf_counter() - t
    finally:
        await _drop(ch)
    best = min(timings)
    return {
        "pending_events": n + 20_000,
        "load_seconds": round(load, 1),
        "due_window_rows": len(rows),
        "due_window_query_seconds": {"min": round(best, 3), "max": round(max(timings), 3)},
        "pending_count_seconds": round(count_seconds, 3),
        "pending_counted": pending[0]["n"],
        "target_seconds": 1,
        "met": max(timings) <= 1 and len(rows) == 10_000,
    }


def _consumer_settings(settings: Settings, ch: ClickHouse, topic: str, name: str) -> Settings:
    """A consumer with the embedded cold tier on this process's chdb path."""
    return settings.model_copy(
        update={
            "delayed_topic": topic,
            "consumer_group": f"bench-{name}",
            "redis_key_prefix": f"{name}:",
            "cold_tier_enabled": True,
            "clickhouse_url": None,
            "clickhouse_path": _path(),
            "clickhouse_database": ch.database,
            "clickhouse_shim_port": 0,
            "ingest_batch_size": INGEST_BATCH,
        }
    )


async def _ingest_rate(
    settings: Settings, ch: ClickHouse, n: int, stored: Callable[[], Awaitable[int]]
) -> float:
    """Run a consumer until `stored()` reaches n; events/s from the first stored event."""
    service = SchedulerService(settings, clickhouse=ch)
    await service.start(roles=["consumer"])
    try:
        first = first_count = 0.0
        deadline = time.perf_counter() + 600
        while (count := await stored()) < n:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {count} of {n} events stored")
            if not first and count:
                first, first_count = time.perf_counter(), count
            await _sleep(0.01)
        return (n - first_count) / (time.perf_counter() - first)
    finally:
        await service.stop()


async def bench_cold_ingest(settings: Settings, quick: bool) -> dict[str, Any]:
    """Long-term events from the delayed topic into ClickHouse (one consumer process)."""
    n = 20_000 if quick else 200_000
    ch = await _database("bench_ingest")
    topic = "bench.ingest.cold"
    try:
        await fill_delayed_topic(settings, topic, n, delay_seconds=30 * 86400)
        s = _consumer_settings(settings, ch, topic, "cold")
        rate = await _ingest_rate(s, ch, n, lambda: _pending(ch))
    finally:
        await _drop(ch)
    return {
        "events": n,
        "body_bytes": len(BODY),
        "events_per_second": round(rate),
        "target_events_per_second": 50_000,
        "met": rate >= 50_000,
    }


async def _pending(ch: ClickHouse) -> int:
    rows = await ch.query("SELECT count() AS n FROM event_schedules_log")
    return int(rows[0]["n"])


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def bench_ingest_journal(settings: Settings, quick: bool) -> dict[str, Any]:
    """Hot-tier ingest as deployed with the cold tier: each batch in Redis AND journaled in
    ClickHouse before its offset is committed (one consumer process)."""
    n = 20_000 if quick else 200_000
    ch = await _database("bench_journal")
    topic = "bench.ingest.journal"
    redis = Redis.from_url(settings.redis_url)
    key = Keys("journal:").scheduled

    async def stored() -> int:
        return min(int(await redis.zcard(key)), await _pending(ch))

    try:
        await fill_delayed_topic(settings, topic, n, delay_seconds=3000)
        s = _consumer_settings(settings, ch, topic, "journal")
        rate = await _ingest_rate(s, ch, n, stored)
    finally:
        await redis.aclose()
        await _drop(ch)
    return {
        "consumer": "SchedulerService(roles=['consumer']) in the bench process",
        "events": n,
        "events_per_second": round(rate),
        "target_events_per_second": 40_000,
        "met": rate >= 40_000,
    }


COLD_SCENARIOS: dict[str, Scenario] = {
    "inprocess_component_ingest_journal": bench_ingest_journal,
    "sync_1m": bench_sync,
    "due_window": bench_due_window,
    "cold_ingest": bench_cold_ingest,
}
