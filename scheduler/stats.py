"""What SchedulerService.get_stats() reports: the queue depths of both tiers, what is in
flight and paused, and how this process's background roles are doing. (The same queue
gauges for Prometheus are read on scrape: scheduler.collector.)"""

from __future__ import annotations

from typing import Any

from scheduler.cold.records import Status
from scheduler.errors import ServiceUnavailable
from scheduler.hot.pause import PauseControl
from scheduler.hot.ratelimit import RateLimitControl
from scheduler.hot.store import HotStore
from scheduler.runtime import Runtime


async def collect(runtime: Runtime, hot: HotStore) -> dict[str, Any]:
    """`pending`, `redis_pending`, `in_flight`, `running`, `paused` and `rate_limits`
    always; the others when that part runs here (`processing`, or `cold_error` while
    ClickHouse is unreachable, with the cold tier; `journal_buffered`; `circuit_breaker`
    with the executor; `ingest` with the consumer)."""
    counts = await hot.counts()
    running = runtime.running()
    paused = await PauseControl(hot).state()
    limits = await RateLimitControl(hot, runtime.settings.rate_limits).state()
    stats: dict[str, Any] = {
        "pending": 0,  # cold tier: schedules waiting in ClickHouse
        "redis_pending": counts["pending"],
        "in_flight": counts["in_flight"],
        "running": running,
        "paused": paused.to_dict(),
        "rate_limits": limits.to_dict(),
    }
    if runtime.cold is not None:
        try:
            cold = await runtime.cold.count_by_status([Status.PENDING, Status.PROCESSING])
        except ServiceUnavailable as exc:
            stats["pending"] = None
            stats["cold_error"] = str(exc)
        else:
            stats["pending"] = cold["pending"]
            stats["processing"] = cold["processing"]
    if runtime.journal is not None:
        stats["journal_buffered"] = runtime.journal.pending()
    if runtime.executor is not None:
        stats["circuit_breaker"] = runtime.executor.breaker.state.name.lower()
    if runtime.consumer is not None:
        t = runtime.consumer.totals
        stats["ingest"] = {
            "stored": t.stored,
            "duplicates": t.duplicates,
            "dead_lettered": t.dead_lettered,
        }
    return stats
