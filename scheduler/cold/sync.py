"""The sync: cold schedules due soon move into Redis; hot ones too far out move back.

One run, in bounded batches of SCHEDULES_SYNC_BATCH_SIZE:

1. resolve 'processing' rows an interrupted run left behind (scheduler.cold.recovery);
2. move 'pending' schedules due within the transfer window into Redis
   (scheduler.cold.transfer: claim, schedule, read back cancels, mark 'transferred');
3. demote: hot schedules due beyond now + SCHEDULES_IMMEDIATE_HORIZON_SECONDS (after an
   operator lowered it) are written back as cold 'pending', then taken out of Redis.

The transfer window is min(SCHEDULES_TRANSFER_HORIZON_SECONDS, immediate horizon): a
window wider than the horizon would move events in that demotion then moves back out.
Crash anywhere and run again: nothing is lost, nothing fires twice (see transfer.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from scheduler import metrics
from scheduler.cold.jobs import SyncResult
from scheduler.cold.records import Schedule, Status, Tier, change_version, micros, row
from scheduler.cold.recovery import resolve_processing
from scheduler.cold.store import START, ColdStore
from scheduler.cold.transfer import Moved, cancel_in_hot, claim, move_to_hot
from scheduler.hot.store import HotStore
from scheduler.settings import Settings

log = logging.getLogger(__name__)

MOVERS = 2  # batches moving at once


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """The sync's settings (no defaults here: build it with from_settings)."""

    immediate_horizon_seconds: float
    transfer_horizon_seconds: float
    batch_size: int
    processing_timeout_seconds: float

    @classmethod
    def from_settings(cls, s: Settings) -> SyncConfig:
        return cls(
            immediate_horizon_seconds=s.immediate_horizon_seconds,
            transfer_horizon_seconds=s.transfer_horizon_seconds,
            batch_size=s.sync_batch_size,
            processing_timeout_seconds=s.processing_timeout_seconds,
        )

    @property
    def window_seconds(self) -> float:
        return min(self.transfer_horizon_seconds, self.immediate_horizon_seconds)


async def sync(
    cold: ColdStore,
    hot: HotStore,
    config: SyncConfig,
    *,
    now: float | None = None,
    max_events: int | None = None,
) -> SyncResult:
    """One sync run; `max_events` bounds the transfers of this run (the rest waits)."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    result = SyncResult(rounds=1)
    until = micros(now + config.window_seconds)
    recovered = await resolve_processing(
        cold,
        hot,
        grace_seconds=config.processing_timeout_seconds,
        batch_size=config.batch_size,
        until_us=until,
    )
    result.resolved = recovered.transferred + recovered.requeued
    moved = Moved()
    fetched = 0

    def fetch(after: tuple[int, str]) -> asyncio.Task[list[Schedule]] | None:
        nonlocal fetched
        limit = config.batch_size
        if max_events is not None:
            limit = min(limit, max_events - fetched)
        if limit <= 0:
            return None
        fetched += limit
        return asyncio.create_task(cold.due(until, limit, after=after))

    async def move(batch: list[Schedule]) -> None:
        claimed_us = micros(time.time())
        await claim(cold, batch, claimed_us)
        moved.add(await move_to_hot(cold, hot, batch, claimed_us=claimed_us))
        result.batches += 1

    # Batches are disjoint key ranges: the next is read, and up to MOVERS move, while
    # one waits on Redis and another on ClickHouse.
    moving: set[asyncio.Task[None]] = set()
    upcoming = fetch(START)
    try:
        while upcoming is not None:
            batch = await upcoming
            full = len(batch) == config.batch_size
            upcoming = fetch(batch[-1].key) if batch and full else None
            if not batch:
                break
            if len(moving) >= MOVERS:
                done, moving = await asyncio.wait(moving, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            moving.add(asyncio.create_task(move(batch)))
        for finished in asyncio.as_completed(moving):
            await finished
    finally:
        if upcoming is not None:
            upcoming.cancel()
        for task in moving:
            task.cancel()
        await asyncio.gather(*moving, return_exceptions=True)
    result.transferred = moved.transferred
    result.duplicates = moved.duplicates
    result.cancelled = moved.cancelled
    result.demoted = await demote(
        cold, hot, horizon_seconds=config.immediate_horizon_seconds, now=now,
        batch_size=config.batch_size,
    )  # fmt: skip
    result.seconds = time.perf_counter() - started
    metrics.SYNC_TRANSFERRED.inc(result.transferred)
    metrics.SYNC_SECONDS.observe(result.seconds)
    metrics.SYNC_LAST_SUCCESS.set_to_current_time()
    log.info(
        "sync completed: %d transferred, %d demoted, %d resolved in %.2fs",
        result.transferred,
        result.demoted,
        result.resolved,
        result.seconds,
    )
    return result


async def demote(
    cold: ColdStore, hot: HotStore, *, horizon_seconds: float, now: float, batch_size: int
) -> int:
    """Move pending hot events due after now + horizon back to the cold tier.

    ClickHouse first, then Redis: a crash in between leaves the event in both, which the
    next run repeats harmlessly (or, if the horizon went back up, the sync finds it
    already in Redis under the same key). Events so far out cannot be claimed meanwhile.
    An event whose Redis time is a retry's backoff, not its own scheduled time, stays.
    """
    horizon_us = micros(now + horizon_seconds)
    after = now + horizon_seconds
    total = 0
    while True:
        pairs = await hot.pending_after(after, batch_size)
        if not pairs:
            return total
        ids = [sid for sid, _ in pairs]
        copies = await hot.events(ids)
        to_cold = [
            ev
            for sid in ids
            if (ev := copies.get(sid)) is not None and micros(ev.scheduled_at) > horizon_us
        ]
        if to_cold:
            version = change_version()
            await cold.write([row(ev, Status.PENDING, Tier.COLD, version) for ev in to_cold])
        moving = {ev.schedule_id for ev in to_cold}
        # At the time read: one rescheduled meanwhile (another time) stays in Redis.
        remove = [(sid, at) for sid, at in pairs if sid in moving or sid not in copies]
        if remove:  # (entries without a payload are debris: removed, nothing to move)
            await cancel_in_hot(hot, remove)
            total += len(to_cold)
            metrics.SYNC_DEMOTED.inc(len(to_cold))
        else:  # a whole batch of retries: look further along
            after = pairs[-1][1]
        if len(pairs) < batch_size:
            return total
