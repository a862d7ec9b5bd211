"""The cold tier's operations as Temporal activities: sync, cleanup, recovery.

Methods of `ColdActivities`, built once per worker with the product's clients (the
`ColdOperations` over ClickHouse and Redis) and registered as bound methods. Each runs
its operation in bounded rounds, heartbeats between them, and is safe to retry after a
crash at any point (see scheduler/cold/sync.py and recovery.py). Inputs and results are
the dataclasses of scheduler.cold.jobs. Bad input raises a non-retryable
ApplicationError; anything else is retried by the workflow's policy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from scheduler import metrics
from scheduler.cold.jobs import (
    CleanupInput,
    CleanupResult,
    HotCheckResult,
    RebuildResult,
    RecoveryInput,
    RecoveryResult,
    SyncInput,
    SyncResult,
)
from scheduler.cold.operations import ColdOperations


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
    async def sync(self, input: SyncInput) -> SyncResult:
        check_sync_input(input)
        out = SyncResult(attempt=activity.info().attempt)
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
                    out.add(r)
                    hb.beat(out.rounds, out.transferred)
                    if r.transferred + r.duplicates + r.cancelled < limit:
                        break  # a round that did not fill up: nothing more is due
                else:
                    out.left_for_next_run = True
        return out

    @activity.defn(name="cleanup_finished")
    async def cleanup(self, input: CleanupInput) -> CleanupResult:
        with _job("cleanup"):
            async with heartbeating():
                return await self.ops.cleanup()

    @activity.defn(name="recover_stuck")
    async def recover(self, input: RecoveryInput) -> RecoveryResult:
        with _job("recovery"):
            async with heartbeating():
                return await self.ops.recover()

    @activity.defn(name="check_hot_tier")
    async def check_hot(self, input: RecoveryInput) -> HotCheckResult:
        if input.check_sample < 1:
            raise ApplicationError(
                f"check_sample must be at least 1 (got {input.check_sample})",
                type="InvalidInput",
                non_retryable=True,
            )
        return await self.ops.check_hot(input.check_sample)

    @activity.defn(name="rebuild_hot_tier")
    async def rebuild_hot(self, input: RecoveryInput) -> RebuildResult:
        with _job("rebuild"):
            async with heartbeating():
                return await self.ops.rebuild_hot()

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for Worker(activities=...)."""
        return [self.sync, self.cleanup, self.recover, self.check_hot, self.rebuild_hot]
