"""The cold tier's operations as Temporal activities: sync, cleanup, recovery.

Methods of `ColdActivities`, built once per worker with the product's clients (the
`ColdOperations` over ClickHouse and Redis) and registered as bound methods. Each runs
its operation in bounded rounds, heartbeats between them, and is safe to retry after a
crash at any point (see scheduler/cold/sync.py and recovery.py). Bad input raises a
non-retryable ApplicationError; anything else is retried by the workflow's policy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from scheduler import metrics
from scheduler.cold.operations import ColdOperations
from scheduler.cold.records import Status, micros
from workflows.models import (
    CleanupInput,
    CleanupOutput,
    HotCheckOutput,
    RebuildOutput,
    RecoverOutput,
    RecoveryInput,
    SyncInput,
    SyncOutput,
)

# Only schedules due this far ahead are checked against Redis: nearer ones may be firing.
HOT_CHECK_MARGIN_SECONDS = 5.0


def check_sync_input(input: SyncInput) -> None:
    if input.max_events is not None and input.max_events < 1:
        raise ApplicationError(
            f"max_events must be at least 1 or null (got {input.max_events})",
            type="InvalidInput",
            non_retryable=True,
        )
    if input.max_rounds < 1:
        raise ApplicationError(
            f"max_rounds must be at least 1 (got {input.max_rounds})",
            type="InvalidInput",
            non_retryable=True,
        )


@contextlib.contextmanager
def _job(name: str) -> Iterator[None]:
    """Time one job run and count its outcome (scheduler/metrics.py)."""
    outcome = "failure"
    try:
        with metrics.JOB_SECONDS.labels(name).time():
            yield
        outcome = "success"
    finally:
        metrics.JOB_RUNS.labels(name, outcome).inc()


class ColdActivities:
    def __init__(self, ops: ColdOperations) -> None:
        self.ops = ops

    @activity.defn(name="sync_cold_to_hot")
    async def sync(self, input: SyncInput) -> SyncOutput:
        check_sync_input(input)
        out = SyncOutput(attempt=activity.info().attempt)
        chunk = self.ops.config.sync.batch_size
        with _job("sync"):
            async with heartbeating() as hb:
                while out.rounds < input.max_rounds:
                    limit = chunk
                    if input.max_events is not None:
                        limit = min(limit, input.max_events - out.transferred)
                        if limit <= 0:
                            out.left_for_next_run = True
                            break
                    r = await self.ops.sync(max_events=limit)
                    out.rounds += 1
                    out.transferred += r.transferred
                    out.demoted += r.demoted
                    out.resolved += r.resolved
                    out.duplicates += r.duplicates
                    out.cancelled += r.cancelled
                    out.seconds += r.seconds
                    hb.beat(out.rounds, out.transferred)
                    if r.transferred + r.duplicates + r.cancelled < limit:
                        break  # a round that did not fill up: nothing more is due
                else:
                    out.left_for_next_run = True
        return out

    @activity.defn(name="cleanup_finished")
    async def cleanup(self, input: CleanupInput) -> CleanupOutput:
        with _job("cleanup"):
            async with heartbeating():
                r = await self.ops.cleanup()
        return CleanupOutput(
            removed=dict(r.removed),
            partitions_dropped=list(r.partitions_dropped),
            hot_orphans=r.hot_orphans,
            seconds=r.seconds,
        )

    @activity.defn(name="recover_stuck")
    async def recover(self, input: RecoveryInput) -> RecoverOutput:
        with _job("recovery"):
            async with heartbeating():
                r = await self.ops.recover()
        return RecoverOutput(
            processing_transferred=r.processing.transferred,
            processing_requeued=r.processing.requeued,
            processing_waiting=r.processing.waiting,
            leases_reaped=r.leases_reaped,
            seconds=r.seconds,
        )

    @activity.defn(name="check_hot_tier")
    async def check_hot(self, input: RecoveryInput) -> HotCheckOutput:
        """Sample 'transferred' schedules not due yet: each must be in Redis (it cannot
        have fired); any missing means Redis lost data."""
        if input.check_sample < 1:
            raise ApplicationError(
                f"check_sample must be at least 1 (got {input.check_sample})",
                type="InvalidInput",
                non_retryable=True,
            )
        after = (micros(time.time() + HOT_CHECK_MARGIN_SECONDS), "")
        rows = await self.ops.cold.in_status(Status.TRANSFERRED, input.check_sample, after=after)
        copies = await self.ops.hot.events([s.event.schedule_id for s in rows])
        missing = sum(1 for s in rows if s.event.schedule_id not in copies)
        return HotCheckOutput(checked=len(rows), missing=missing)

    @activity.defn(name="rebuild_hot_tier")
    async def rebuild_hot(self, input: RecoveryInput) -> RebuildOutput:
        with _job("rebuild"):
            async with heartbeating():
                r = await self.ops.rebuild_hot()
        return RebuildOutput(
            restored=r.restored,
            already_present=r.already_present,
            cancelled=r.cancelled,
            seconds=r.seconds,
        )

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for Worker(activities=...)."""
        return [self.sync, self.cleanup, self.recover, self.check_hot, self.rebuild_hot]
