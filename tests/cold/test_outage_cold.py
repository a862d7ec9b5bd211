"""The sync role's loop and the journal writer live through ClickHouse going away (the
server transport's endpoint closed, then opened again on the same port)."""

from __future__ import annotations

from pathlib import Path

from conftest import eventually

from devstack.http_shim import HttpShim
from devstack.services import free_port
from scheduler.cold import ClickHouse
from scheduler.cold.store import ColdStore
from scheduler.service import SchedulerService
from scheduler.settings import Settings


async def test_the_sync_role_and_the_journal_live_through_clickhouse_going_away(
    hybrid_settings: Settings, cold_db: ClickHouse, chdb_path: Path
) -> None:
    port = free_port()
    shim = HttpShim(chdb_path, port=port).start()
    s = hybrid_settings.model_copy(
        update={
            "clickhouse_url": f"http://127.0.0.1:{port}/{cold_db.database}",
            "clickhouse_sync_interval": 0.2,
        }
    )
    service = SchedulerService(s)
    await service.start(roles=["sync"])
    try:
        maintenance, journal = service.runtime.maintenance, service.runtime.journal
        assert maintenance is not None and journal is not None
        sync = maintenance.outages["sync"]
        assert await eventually(lambda: maintenance.runs >= 1)

        shim.close()  # ClickHouse goes away
        sid = await service.schedule_event(topic="t", body="x", delay_seconds=60)  # journaled
        assert await eventually(lambda: sync.down and journal.writing.down, timeout=15)
        shim = HttpShim(chdb_path, port=port).start()  # back

        assert await eventually(lambda: not sync.down and not journal.writing.down, timeout=30)
        assert [r.event.schedule_id for r in await ColdStore(cold_db).find([sid])] == [sid]
        assert (await service.get_stats())["running"] == {"sync": True}
        assert sync.outages == 1 and journal.writing.outages == 1  # one warning each
    finally:
        await service.stop()
        shim.close()
