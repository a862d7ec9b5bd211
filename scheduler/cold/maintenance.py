"""The `sync` role: runs the cold tier's operations on timers, in this process.

For deployments without Temporal (where the `worker` role runs them as Temporal
Schedules instead; `dev` runs the worker, and the two are never run together): the sync every
SCHEDULES_CLICKHOUSE_SYNC_INTERVAL, first at start (each sync also resolves 'processing'
rows an interrupted run left); recovery and cleanup every SCHEDULES_CLEANUP_INTERVAL
(executors reap their own expired leases meanwhile). A failed run is tried again next
interval; the log says once when a job starts failing and once when it works again.
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
from scheduler.hot.backoff import Outage

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, ops: ColdOperations, *, sync_interval: float, cleanup_interval: float):
        self.ops = ops
        self.sync_interval = sync_interval
        self.cleanup_interval = cleanup_interval
        self._stopping = asyncio.Event()
        self.runs = 0
        # One warning when a job starts failing (ClickHouse or Redis away), one line when
        # it works again; the intervals pace the retries.
        self.outages = {
            name: Outage(f"sync role: {name}", log) for name in ("sync", "recovery", "cleanup")
        }

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
        except Exception as exc:
            self.outages[name].failed(exc)
        else:
            self.outages[name].recovered()
            log.debug("%s: %s", name, result)
