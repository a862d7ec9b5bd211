"""The `sync` role: runs the cold tier's operations on timers, in this process.

For deployments without Temporal (where the `worker` role runs them as Temporal
Schedules instead; `dev` runs the worker, and the two are never run together): the sync every
SCHEDULES_CLICKHOUSE_SYNC_INTERVAL, first at start (each sync also resolves 'processing'
rows an interrupted run left); recovery and cleanup every SCHEDULES_CLEANUP_INTERVAL
(executors reap their own expired leases meanwhile). A failed run is logged and tried
again next interval.
Run it in one process per deployment: the operations are safe to overlap, but
overlapping runs only repeat work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from scheduler.cold.operations import ColdOperations

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, ops: ColdOperations, *, sync_interval: float, cleanup_interval: float):
        self.ops = ops
        self.sync_interval = sync_interval
        self.cleanup_interval = cleanup_interval
        self._stopping = asyncio.Event()
        self.runs = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        next_cleanup = time.monotonic() + self.cleanup_interval
        while not self._stopping.is_set():
            await self._step("sync", self.ops.sync)
            if time.monotonic() >= next_cleanup:
                await self._step("recovery", self.ops.recover)
                await self._step("cleanup", self.ops.cleanup)
                next_cleanup = time.monotonic() + self.cleanup_interval
            self.runs += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.sync_interval)

    async def _step(self, name: str, op: Callable[[], Awaitable[object]]) -> None:
        try:
            result = await op()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; trying again in %.0fs", name, self.sync_interval)
        else:
            log.debug("%s: %s", name, result)
