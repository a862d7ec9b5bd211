"""SchedulerService with the cold tier: start-up checks, and what still works while
ClickHouse is away."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from conftest import eventually

from devstack.http_shim import HttpShim
from devstack.services import free_port
from scheduler.cold import ClickHouse, EmbeddedClickHouse
from scheduler.cold.records import Status
from scheduler.cold.store import ColdStore
from scheduler.errors import ConfigError, PendingMigrations, ServiceUnavailable
from scheduler.hot.store import CancelResult
from scheduler.service import SchedulerService
from scheduler.settings import Settings


async def test_start_refuses_pending_migrations_unless_told_to_apply_them(
    hybrid_settings: Settings, chdb_path: Path
) -> None:
    database = f"fresh_{uuid.uuid4().hex[:10]}"
    s = hybrid_settings.model_copy(update={"clickhouse_database": database})
    owner = EmbeddedClickHouse(chdb_path, database)
    await owner.ensure_database()
    try:
        with pytest.raises(PendingMigrations, match="hybrid-scheduler migrate"):
            await SchedulerService(s).start()
        service = SchedulerService(s.model_copy(update={"clickhouse_auto_migrate": True}))
        await service.start()  # as `hybrid-scheduler dev` does
        await service.stop()
        service = SchedulerService(s)
        await service.start()  # now up to date
        await service.stop()
    finally:
        await owner.command(f"DROP DATABASE {database}")
        await owner.close()


async def test_unreachable_clickhouse_is_a_clear_error(hybrid_settings: Settings) -> None:
    s = hybrid_settings.model_copy(update={"clickhouse_url": f"http://127.0.0.1:{free_port()}/x"})
    with pytest.raises(ServiceUnavailable, match="ClickHouse"):
        await SchedulerService(s).start()


async def test_the_sync_role_needs_the_cold_tier(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="SCHEDULES_COLD_TIER_ENABLED"):
        await SchedulerService(settings).start(roles=["sync"])


async def test_hot_scheduling_goes_on_while_clickhouse_is_away(
    hybrid_settings: Settings, cold_db: ClickHouse, chdb_path: Path
) -> None:
    port = free_port()
    shim = HttpShim(chdb_path, port=port).start()
    s = hybrid_settings.model_copy(
        update={"clickhouse_url": f"http://127.0.0.1:{port}/{cold_db.database}"}
    )
    service = SchedulerService(s)
    await service.start()
    try:
        shim.close()
        sid = await service.schedule_event(topic="t", body="x", delay_seconds=60)
        with pytest.raises(ServiceUnavailable):
            await service.schedule_event(topic="t", body="x", delay_seconds=86400 * 7)
        stats = await service.get_stats()
        assert stats["redis_pending"] == 1 and stats["pending"] is None
        assert "ClickHouse" in stats["cold_error"]
        other = await service.schedule_event(topic="t", body="y", delay_seconds=60)
        assert await service.cancel_event(other) is CancelResult.PENDING
        with pytest.raises(ServiceUnavailable):  # is there a cold one? cannot tell
            await service.cancel_event("unknown-id")

        shim = HttpShim(chdb_path, port=port).start()  # back: the journal catches up
        cold = ColdStore(cold_db)

        async def journaled() -> bool:
            rows = {r.event.schedule_id: r.status for r in await cold.find([sid, other])}
            return rows == {sid: Status.TRANSFERRED, other: Status.CANCELLED}

        assert await eventually(journaled, timeout=30)
    finally:
        await service.stop()
        shim.close()
