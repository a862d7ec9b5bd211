"""Cleanup: finished schedules past retention, and hot-tier debris.

- Schedules executed, cancelled, skipped or failed ('error') more than
  SCHEDULES_SCHEDULE_RETENTION_DAYS ago get a deletion tombstone (an INSERT ... SELECT
  run by ClickHouse itself, in bounded batches; no data passes through Python, no
  ALTER DELETE). FINAL hides them at once; merges reclaim the space. Months older than
  the retention with nothing left in them are dropped whole.
- Redis entries of ids that are neither pending nor in flight (HotStore.sweep_orphans).

Execution results and hourly metrics expire by their tables' TTLs.
"""

from __future__ import annotations

import logging
import time

from scheduler import metrics
from scheduler.cold.jobs import CleanupResult
from scheduler.cold.records import FINISHED, micros, tombstone_version
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore

log = logging.getLogger(__name__)


async def cleanup(
    cold: ColdStore,
    hot: HotStore,
    *,
    retention_days: int,
    batch_size: int = 100_000,
    now: float | None = None,
) -> CleanupResult:
    started = time.perf_counter()
    now = time.time() if now is None else now
    cutoff = micros(now - retention_days * 86400)
    result = CleanupResult()
    counts = await cold.count_changed_before(sorted(FINISHED), cutoff)
    for status, n in counts.items():
        for _ in range(0, n, batch_size):
            await cold.tombstone_changed_before(status, cutoff, batch_size, tombstone_version())
        result.removed[status] = n
        metrics.CLEANED.labels(status).inc(n)
    result.partitions_dropped = await cold.drop_empty_months(cutoff)
    result.hot_orphans = await hot.sweep_orphans()
    metrics.CLEANED.labels("hot_orphan").inc(result.hot_orphans)
    result.seconds = time.perf_counter() - started
    log.info(
        "cleanup completed: %d removed (%s), %d months dropped, %d hot orphans in %.2fs",
        result.total,
        ", ".join(f"{status} {n}" for status, n in sorted(result.removed.items()) if n) or "-",
        len(result.partitions_dropped),
        result.hot_orphans,
        result.seconds,
    )
    return result
