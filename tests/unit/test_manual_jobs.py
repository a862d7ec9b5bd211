"""Manual sync and cleanup run in this process when the API has no Temporal client
(api.jobs); the answer is the job's figures beside job, via and finished."""

from __future__ import annotations

import pytest

from api.jobs import Jobs
from scheduler.cold.jobs import CleanupResult, SyncResult
from scheduler.errors import ConfigError
from unit.fakes import default_settings


class Service:
    def __init__(self) -> None:
        self.ran: list[str] = []

    async def sync_clickhouse_to_redis(self) -> SyncResult:
        self.ran.append("sync")
        return SyncResult(transferred=3, batches=1, seconds=0.5)

    async def cleanup_old_schedules(self) -> CleanupResult:
        self.ran.append("cleanup")
        return CleanupResult(hot_orphans=2)


class NoColdTier:
    async def sync_clickhouse_to_redis(self) -> SyncResult:
        raise ConfigError("the cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false)")

    async def cleanup_old_schedules(self) -> CleanupResult:
        raise ConfigError("the cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false)")


async def test_sync_in_process() -> None:
    service = Service()
    body, code = await Jobs(service, default_settings()).run("sync")
    assert code == 200
    assert service.ran == ["sync"]
    assert body["job"] == "sync" and body["via"] == "in_process" and body["finished"] is True
    assert (body["transferred"], body["batches"], body["seconds"]) == (3, 1, 0.5)
    assert "workflow_id" not in body


async def test_cleanup_in_process() -> None:
    service = Service()
    body, code = await Jobs(service, default_settings()).run("cleanup")
    assert code == 200
    assert service.ran == ["cleanup"]
    assert body["job"] == "cleanup" and body["hot_orphans"] == 2


async def test_without_the_cold_tier_the_service_refuses() -> None:
    with pytest.raises(ConfigError, match="SCHEDULES_COLD_TIER_ENABLED"):
        await Jobs(NoColdTier(), default_settings()).run("sync")
