"""Recovery of stuck 'processing' rows and expired leases; rebuilding an emptied Redis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from cold.runbook import STUCK
from devstack.services import free_port, start_redis
from scheduler.cold.records import FIRST_VERSION, Schedule, Status, Tier, row
from scheduler.cold.recovery import recover
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.service import SchedulerService
from scheduler.settings import Settings


def event(sid: str, at: float) -> Event:
    return Event(schedule_id=sid, topic="t", body=sid.encode(), scheduled_at=at, created_at=at)


async def claimed(cold: ColdStore, schedules: list[Schedule], started_us: int) -> None:
    """'processing' versions, as an interrupted sync leaves them."""
    await cold.write(
        [s.version_row(Status.PROCESSING, Tier.COLD, 10, started_us=started_us) for s in schedules]
    )


async def test_stuck_processing_rows_and_expired_leases(cold: ColdStore, hot: HotStore) -> None:
    now = time.time()
    evs = {
        "in_redis": event("in_redis", now + 30),
        "not_due": event("not_due", now + 30),
        "due_fresh": event("due_fresh", now - 10),
        "due_stale": event("due_stale", now - 7000),
    }
    await cold.write([row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION) for ev in evs.values()])
    rows = {s.event.schedule_id: s for s in await cold.find(evs)}
    two_hours_ago = int((now - 7200) * 1e6)
    await claimed(cold, [rows["in_redis"], rows["not_due"], rows["due_stale"]], two_hours_ago)
    await claimed(cold, [rows["due_fresh"]], int(now * 1e6))
    await hot.schedule([evs["in_redis"]])
    # A lease that expired: claimed by an executor that died.
    await hot.schedule([event("leased", now - 1)])
    assert len((await hot.claim(1, -0.5)).items) == 1
    stuck = await cold.ch.query(STUCK)
    assert sorted(r["schedule_id"] for r in stuck) == ["due_stale", "in_redis", "not_due"]

    result = await recover(cold, hot, processing_timeout_seconds=600, batch_size=1000)
    p = result.processing
    assert (p.transferred, p.requeued, p.waiting, result.leases_reaped) == (1, 2, 1, 1)
    assert await cold.ch.query(STUCK) == []
    statuses = {s.event.schedule_id: s.status.value for s in await cold.find(evs)}
    assert statuses == {
        "in_redis": "transferred",
        "not_due": "transferred",
        "due_stale": "transferred",
        "due_fresh": "processing",  # may have fired a moment ago: left for later
    }
    assert await hot.counts() == {"pending": 4, "held": 0, "in_flight": 0}  # the leased one is back


async def test_rebuild_after_flushall_restores_each_schedule_once(
    hybrid_settings: Settings, tmp_path: Path, read_topic, uid: str
) -> None:
    port = free_port()
    proc = start_redis(port, tmp_path / "redis")
    topic = f"target-{uid}"
    s = hybrid_settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{port}/0",
            "immediate_horizon_seconds": 5.0,
            "transfer_horizon_seconds": 5.0,
        }
    )
    await ensure_topics(s, [topic, s.delayed_topic, s.dead_letter_topic])
    service = SchedulerService(s)
    await service.start()
    try:
        # Cold ones all due at one instant 8 s out: they enter the 5 s transfer window 3 s
        # from now, however long the 50 calls take on a loaded machine.
        cold_due = time.time() + 8
        hot_ids = [
            await service.schedule_event(topic=topic, body=f"h{i}", delay_seconds=4)
            for i in range(30)
        ]
        cold_ids = [
            await service.schedule_event(
                topic=topic, body=f"c{i}", scheduled_at=datetime.fromtimestamp(cold_due, UTC)
            )
            for i in range(20)
        ]
        assert time.time() < cold_due - 5, "scheduling took over 3 s: the scenario is void"
        assert (await service.sync_clickhouse_to_redis()).moved == 0  # not yet in the window
        await service.cancel_event(hot_ids[0])
        await service.cancel_event(cold_ids[0])
        # Part of the scenario, not a wait for a result: the cold ones enter the 5 s
        # transfer window only as time passes.
        await asyncio.sleep(max(0.0, cold_due - 5 + 0.2 - time.time()))
        assert (await service.sync_clickhouse_to_redis()).moved == 19
        assert service.runtime.journal is not None and service.runtime.hot is not None
        await service.runtime.journal.flush()
        assert await service.runtime.hot.counts() == {"pending": 48, "held": 0, "in_flight": 0}

        await service.runtime.hot.redis.flushall()
        result = await service.rebuild_hot_tier()
        assert (result.restored, result.already_present, result.cancelled) == (48, 0, 0)
        again = await service.rebuild_hot_tier()
        assert (again.restored, again.already_present) == (0, 48)
        assert await service.runtime.hot.counts() == {"pending": 48, "held": 0, "in_flight": 0}
    finally:
        await service.stop()

    reader = await read_topic(topic)
    service = SchedulerService(s)
    await service.start(roles=["executor"])
    try:
        await reader.read(48, timeout=30)
        # A quiet period: nothing fires a second time (a cancelled one, or a duplicate).
        fired = Counter(dict(m.headers)["schedule_id"].decode() for m in await reader.settle(1.5))
        assert fired == dict.fromkeys(hot_ids[1:] + cold_ids[1:], 1)
    finally:
        await service.stop()
        proc.stop()


async def test_rebuild_works_through_the_store_keys(cold: ColdStore, hot: HotStore) -> None:
    """A transferred row whose id Redis holds for another time is not added twice."""
    from scheduler.cold.recovery import rebuild_hot

    now = time.time()
    await cold.write([row(event("x", now + 100), Status.TRANSFERRED, Tier.HOT, FIRST_VERSION)])
    await hot.schedule([event("x", now + 50)])
    result = await rebuild_hot(cold, hot, processing_timeout_seconds=600, batch_size=1000)
    assert (result.restored, result.already_present) == (0, 0)
    got = await hot.get("x")
    assert got is not None and abs(got[1].scheduled_at - (now + 50)) < 1e-5
    (x,) = await cold.find(["x"])
    assert x.status is Status.SKIPPED  # only one schedule per id can be in Redis
