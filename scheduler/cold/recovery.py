"""Recovery: stuck 'processing' rows, expired Redis leases, and rebuilding an emptied Redis.

A 'processing' row means a sync claimed it and may or may not have put it into Redis
before it stopped. It is resolved by what Redis and the clock say:

- in Redis (pending or in flight)              -> 'transferred'
- not in Redis and not due yet                  -> moved into Redis now: it cannot have
                                                   fired, the executor only takes due events
- not in Redis, due, processing for longer than -> moved into Redis (at-least-once): it
  SCHEDULES_PROCESSING_TIMEOUT_SECONDS             never got there, or it fired and its
                                                   outcome was lost with its executor
- not in Redis, due, processing for less        -> left for later: it may have just fired,
                                                   and its outcome be on its way
"""

from __future__ import annotations

import logging
import time

from scheduler import metrics
from scheduler.cold.jobs import HotCheckResult, ProcessingResult, RebuildResult, RecoveryResult
from scheduler.cold.records import Status, Tier, change_version, micros
from scheduler.cold.store import START, ColdStore
from scheduler.cold.transfer import Moved, move_to_hot
from scheduler.hot.store import HotStore

log = logging.getLogger(__name__)

# Only schedules due this far ahead are checked against Redis: nearer ones may be firing.
HOT_CHECK_MARGIN_SECONDS = 5.0


async def resolve_processing(
    cold: ColdStore,
    hot: HotStore,
    *,
    grace_seconds: float,
    batch_size: int,
    now: float | None = None,
    until_us: int | None = None,
) -> ProcessingResult:
    """Resolve every 'processing' row (see the module docstring); with `until_us`, only
    those due by then (a sync claims only what is due within its window, so its own
    leftovers are all there, and the rest of the table need not be read)."""
    result = ProcessingResult()
    now = time.time() if now is None else now
    after = START
    while True:
        batch = await cold.in_status(Status.PROCESSING, batch_size, after=after, until_us=until_us)
        if not batch:
            return result
        after = batch[-1].key
        copies = await hot.events([s.event.schedule_id for s in batch])
        in_redis = []
        move = []
        real_now = micros(time.time())
        stale_before = micros(now - grace_seconds)
        for s in batch:
            copy = copies.get(s.event.schedule_id)
            if copy is not None and micros(copy.scheduled_at) == s.scheduled_us:
                in_redis.append(s)
            elif s.scheduled_us > real_now or (s.processing_started_us or 0) < stale_before:
                move.append(s)
            else:
                result.waiting += 1
        if in_redis:
            version = change_version()
            await cold.write(
                [s.version_row(Status.TRANSFERRED, Tier.HOT, version) for s in in_redis]
            )
            result.transferred += len(in_redis)
        if move:
            moved = await move_to_hot(cold, hot, move)
            result.requeued += moved.transferred
        if len(batch) < batch_size:
            break
    metrics.RECOVERED.labels("processing_transferred").inc(result.transferred)
    metrics.RECOVERED.labels("processing_requeued").inc(result.requeued)
    return result


async def recover(
    cold: ColdStore,
    hot: HotStore,
    *,
    processing_timeout_seconds: float,
    batch_size: int,
    now: float | None = None,
) -> RecoveryResult:
    """Resolve stuck 'processing' rows and return expired Redis leases to pending."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    processing = await resolve_processing(
        cold, hot, grace_seconds=processing_timeout_seconds, batch_size=batch_size, now=now
    )
    reaped = await hot.reap()
    metrics.RECOVERED.labels("lease").inc(reaped)
    result = RecoveryResult(processing, reaped, time.perf_counter() - started)
    log.info(
        "recovery completed: %d stuck processing resolved (%d transferred, %d requeued), "
        "%d left waiting, %d expired leases returned in %.2fs",
        processing.transferred + processing.requeued,
        processing.transferred,
        processing.requeued,
        processing.waiting,
        reaped,
        result.seconds,
    )
    return result


async def check_hot(
    cold: ColdStore, hot: HotStore, *, sample: int, now: float | None = None
) -> HotCheckResult:
    """Sample 'transferred' schedules not due yet: each must be in Redis (it cannot have
    fired); any missing means Redis lost data (then rebuild_hot)."""
    now = time.time() if now is None else now
    after = (micros(now + HOT_CHECK_MARGIN_SECONDS), "")
    rows = await cold.in_status(Status.TRANSFERRED, sample, after=after)
    copies = await hot.events([s.event.schedule_id for s in rows])
    missing = sum(1 for s in rows if s.event.schedule_id not in copies)
    return HotCheckResult(checked=len(rows), missing=missing)


async def rebuild_hot(
    cold: ColdStore,
    hot: HotStore,
    *,
    processing_timeout_seconds: float,
    batch_size: int,
) -> RebuildResult:
    """Put every schedule ClickHouse says is in Redis ('transferred') back into Redis.

    For a Redis that lost its data (FLUSHALL, a lost volume). Schedules still there are
    left alone (HotStore.schedule is idempotent by schedule_id), cancelled ones stay
    cancelled. 'pending' ones stay for the sync, whose job they are. A schedule that
    fired in the last moments before the rebuild, with its outcome not yet journaled,
    can fire again: stop the executors first for exactly-once.
    """
    started = time.perf_counter()
    result = RebuildResult()
    moved = Moved()
    after = START
    while True:
        batch = await cold.in_status(Status.TRANSFERRED, batch_size, after=after)
        if not batch:
            break
        after = batch[-1].key
        moved.add(await move_to_hot(cold, hot, batch, write_transferred=False))
        if len(batch) < batch_size:
            break
    result.restored = moved.transferred - moved.already_in_redis
    result.already_present = moved.already_in_redis
    result.cancelled = moved.cancelled
    processing = result.processing = await resolve_processing(
        cold, hot, grace_seconds=processing_timeout_seconds, batch_size=batch_size
    )
    metrics.RECOVERED.labels("rebuilt").inc(result.restored)
    result.seconds = time.perf_counter() - started
    log.warning(
        "hot-tier rebuild completed: %d restored to Redis, %d already there, %d cancelled, "
        "%d processing resolved in %.2fs",
        result.restored,
        result.already_present,
        result.cancelled,
        processing.transferred + processing.requeued,
        result.seconds,
    )
    return result
