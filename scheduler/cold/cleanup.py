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

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scheduler import metrics
from scheduler.cold.records import FINISHED, TOMBSTONE_BAND, change_clock, micros
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore

_TOMBSTONES = """
INSERT INTO event_schedules_log
    (schedule_id, scheduled_at, status, tier, created_at, updated_at, version, is_deleted)
SELECT schedule_id, scheduled_at, status, tier, created_at, now64(6), {version:UInt64}, 1
FROM event_schedules
WHERE status = {status:String} AND updated_at < fromUnixTimestamp64Micro({cutoff:Int64}, 'UTC')
LIMIT {limit:UInt64}
"""


@dataclass(slots=True)
class CleanupResult:
    removed: dict[str, int] = field(default_factory=dict)  # finished schedules, by status
    partitions_dropped: list[str] = field(default_factory=list)
    hot_orphans: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.removed.values()) + self.hot_orphans


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
    counts = await cold.ch.query_rows(
        "SELECT status, count() FROM event_schedules WHERE status IN {finished:Array(String)}"
        " AND updated_at < fromUnixTimestamp64Micro({cutoff:Int64}, 'UTC') GROUP BY status",
        {"finished": sorted(FINISHED), "cutoff": cutoff},
    )
    for status, n in counts.rows:
        for _ in range(0, n, batch_size):
            await cold.ch.command(
                _TOMBSTONES,
                {
                    "version": TOMBSTONE_BAND + change_clock(),
                    "status": status,
                    "cutoff": cutoff,
                    "limit": batch_size,
                },
            )
        result.removed[status] = n
        metrics.CLEANED.labels(status).inc(n)
    result.partitions_dropped = await _drop_empty_months(cold, cutoff)
    result.hot_orphans = await hot.sweep_orphans()
    metrics.CLEANED.labels("hot_orphan").inc(result.hot_orphans)
    result.seconds = time.perf_counter() - started
    return result


async def _drop_empty_months(cold: ColdStore, cutoff_us: int) -> list[str]:
    """Drop monthly partitions that end before the cutoff and hold no visible schedule."""
    cutoff = datetime.fromtimestamp(cutoff_us / 1_000_000, UTC)
    before = cutoff.year * 100 + cutoff.month  # months before the cutoff's month
    parts = await cold.ch.query_rows(
        "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase()"
        " AND table = 'event_schedules_log' AND active AND toUInt32(partition) < {before:UInt32}",
        {"before": before},
    )
    dropped = []
    for (partition,) in parts.rows:
        left = await cold.ch.query_rows(
            "SELECT count() FROM event_schedules WHERE toYYYYMM(scheduled_at) = {p:UInt32}",
            {"p": int(partition)},
        )
        if left.rows[0][0] == 0:
            await cold.ch.command(
                f"ALTER TABLE event_schedules_log DROP PARTITION {int(partition)}"
            )
            dropped.append(str(partition))
    return dropped
