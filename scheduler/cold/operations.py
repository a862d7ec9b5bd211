"""The cold tier's operations, bound to their clients: what the service, the CLI, the
in-process maintenance loop and the Temporal activities call.

    ops = ColdOperations(ColdStore(ch), hot, ColdConfig.from_settings(settings))
    await ops.sync()          # SyncResult: transferred, demoted, seconds, ...
    await ops.recover()       # RecoveryResult
    await ops.check_hot(100)  # HotCheckResult: does Redis hold what ClickHouse says?
    await ops.rebuild_hot()   # RebuildResult
    await ops.cleanup()       # CleanupResult: removed per status, hot orphans

Each returns its dataclass of scheduler.cold.jobs, works in bounded batches, and is safe
to run again after a crash. Runs of one operation in this process are serialised.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from scheduler.cold.cleanup import cleanup
from scheduler.cold.jobs import (
    CleanupResult,
    HotCheckResult,
    RebuildResult,
    RecoveryResult,
    SyncResult,
)
from scheduler.cold.recovery import check_hot, rebuild_hot, recover
from scheduler.cold.store import ColdStore
from scheduler.cold.sync import SyncConfig, sync
from scheduler.hot.store import HotStore
from scheduler.settings import Settings


@dataclass(frozen=True, slots=True)
class ColdConfig:
    """The cold operations' settings (no defaults here: build it with from_settings)."""

    sync: SyncConfig
    retention_days: int

    @classmethod
    def from_settings(cls, s: Settings) -> ColdConfig:
        return cls(SyncConfig.from_settings(s), s.schedule_retention_days)


class ColdOperations:
    def __init__(self, cold: ColdStore, hot: HotStore, config: ColdConfig) -> None:
        self.cold = cold
        self.hot = hot
        self.config = config
        self._locks = {name: asyncio.Lock() for name in ("sync", "cleanup")}

    async def sync(self, *, max_events: int | None = None) -> SyncResult:
        # Recovery and rebuild move schedules too; one mover at a time keeps runs short.
        async with self._locks["sync"]:
            return await sync(self.cold, self.hot, self.config.sync, max_events=max_events)

    async def recover(self) -> RecoveryResult:
        async with self._locks["sync"]:
            return await recover(
                self.cold,
                self.hot,
                processing_timeout_seconds=self.config.sync.processing_timeout_seconds,
                batch_size=self.config.sync.batch_size,
            )

    async def check_hot(self, sample: int) -> HotCheckResult:
        return await check_hot(self.cold, self.hot, sample=sample)

    async def rebuild_hot(self) -> RebuildResult:
        async with self._locks["sync"]:
            return await rebuild_hot(
                self.cold,
                self.hot,
                processing_timeout_seconds=self.config.sync.processing_timeout_seconds,
                batch_size=self.config.sync.batch_size,
            )

    async def cleanup(self) -> CleanupResult:
        async with self._locks["cleanup"]:
            return await cleanup(self.cold, self.hot, retention_days=self.config.retention_days)
