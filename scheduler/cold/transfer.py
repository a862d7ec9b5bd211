"""Moving schedules from ClickHouse into Redis without losing or doubling any.

The order is what makes it safe to crash anywhere and run again:

1. `claim`: write 'processing' versions (processing_started_at = now). A run that dies
   after this leaves the rows visibly stuck, for the next run or recovery to resolve.
2. `move_to_hot`: schedule the events into Redis. HotStore.schedule is idempotent by
   schedule_id, so a rerun adds nothing twice.
3. Read the batch's statuses back: any cancelled meanwhile is cancelled in Redis again
   (a cancel writes its sticky 'cancelled' version before it cancels in Redis, so
   either it saw our event in Redis, or we see its version here).
4. Write 'transferred' versions, stamped before step 2, so the executor's outcome of an
   event that fires at once is always the later version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.cold.records import (
    Schedule,
    Status,
    Tier,
    change_version,
    micros,
    outcome_version,
)
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore

CANCEL_CONCURRENCY = 64


async def cancel_in_hot(hot: HotStore, versions: Sequence[tuple[str, float]]) -> int:
    """Cancel these (schedule_id, time in Redis) in Redis, a bounded number at a time;
    returns how many were there. Only the version stored for that time is cancelled: one
    rescheduled meanwhile (scheduler.reschedule) has another time and stays."""
    found = 0
    for start in range(0, len(versions), CANCEL_CONCURRENCY):
        results = await asyncio.gather(
            *(hot.cancel(sid, at=at) for sid, at in versions[start : start + CANCEL_CONCURRENCY])
        )
        found += sum(bool(r) for r in results)
    return found


async def claim(cold: ColdStore, batch: Sequence[Schedule], now_us: int) -> None:
    """Mark a batch 'processing' (step 1), with processing_started_at = now_us.

    `batch` is what `ColdStore.due` returned: every pending schedule between its first
    and last key, so ClickHouse writes the new versions itself. (A pending schedule that
    appeared inside that key range since the read is claimed too and not moved; the
    next sync's `resolve_processing` moves it.)
    """
    if batch:
        await cold.claim_range(batch[0].key, batch[-1].key, now_us, change_version())


@dataclass(slots=True)
class Moved:
    transferred: int = 0
    already_in_redis: int = 0  # this very schedule was there: a rerun, or a rebuild
    duplicates: int = 0  # Redis holds another schedule under the same id: this one skipped
    cancelled: int = 0  # cancelled while being moved: taken out of Redis again

    def add(self, other: Moved) -> None:
        self.transferred += other.transferred
        self.already_in_redis += other.already_in_redis
        self.duplicates += other.duplicates
        self.cancelled += other.cancelled


async def move_to_hot(
    cold: ColdStore,
    hot: HotStore,
    batch: Sequence[Schedule],
    *,
    write_transferred: bool = True,
    claimed_us: int | None = None,
) -> Moved:
    """Steps 2-4 for one batch (sorted by key, so the read-back is one key range).

    `claimed_us`: the batch is exactly what `claim(..., claimed_us)` took, so ClickHouse
    can write the 'transferred' versions itself. `write_transferred=False` is for
    schedules that are 'transferred' already (rebuild).
    """
    moved = Moved()
    if not batch:
        return moved
    version = change_version()
    added = await hot.schedule([s.event for s in batch])
    others = await hot.events(
        [s.event.schedule_id for s, a in zip(batch, added, strict=True) if not a]
    )
    mine: list[Schedule] = []
    duplicates: list[Schedule] = []
    for s, a in zip(batch, added, strict=True):
        copy = others.get(s.event.schedule_id)
        if a:
            mine.append(s)
        elif copy is None or micros(copy.scheduled_at) == s.scheduled_us:
            # There under this key, or there a moment ago and fired since (its outcome,
            # a later version, will say so).
            mine.append(s)
            moved.already_in_redis += 1
        else:
            duplicates.append(s)
    gone = await cold.cancelled(batch)
    cancelled = [s for s in mine if s.key in gone]
    if cancelled:
        await cancel_in_hot(hot, [(s.event.schedule_id, s.event.scheduled_at) for s in cancelled])
        mine = [s for s in mine if s.key not in gone]
    moved.cancelled = len(cancelled)
    moved.duplicates = len(duplicates)
    moved.transferred = len(mine)
    rows = []
    if write_transferred and claimed_us is not None:
        # Duplicates and cancelled ones get this too; their later versions win.
        await cold.transfer_claimed(batch[0].key, batch[-1].key, claimed_us, version)
    elif write_transferred:
        rows += [s.version_row(Status.TRANSFERRED, Tier.HOT, version) for s in mine]
    if duplicates:
        skipped = outcome_version()
        rows += [
            s.version_row(
                Status.SKIPPED,
                Tier.COLD,
                skipped,
                error="schedule_id is already scheduled in Redis for another time",
            )
            for s in duplicates
        ]
    if rows:
        await cold.write(rows)
    return moved
