"""Routing by horizon through the Python API, and the journal of hot schedules."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.cold import ClickHouse
from scheduler.cold.records import Status
from scheduler.cold.store import ColdStore
from scheduler.hot.store import CancelResult, HotStore
from scheduler.models import Event
from scheduler.router import Router, Tier
from scheduler.service import SchedulerService
from scheduler.settings import Settings


@pytest.fixture
async def service(hybrid_settings: Settings) -> AsyncIterator[SchedulerService]:
    svc = SchedulerService(hybrid_settings.model_copy(update={"immediate_horizon_seconds": 3600}))
    await svc.start()
    yield svc
    await svc.stop()


async def statuses(cold: ColdStore, *ids: str) -> dict[str, str]:
    return {s.event.schedule_id: s.status.value for s in await cold.find(ids)}


async def test_beyond_the_horizon_goes_to_clickhouse_as_pending(
    service: SchedulerService, cold: ColdStore, hot: HotStore
) -> None:
    at = datetime.now(UTC) + timedelta(days=30)
    sid = await service.schedule_event(
        topic="user.subscription",
        entity_type="subscription",
        action="renewal_reminder",
        body={"subscription_id": 456},
        scheduled_at=at,
        correlation_id="renewal-456",
        headers={"k": "v"},
        priority=3,
    )
    assert await hot.get(sid) is None
    (row,) = await cold.find([sid])
    assert (row.status, row.tier) == (Status.PENDING, "cold")
    ev = row.event
    assert ev.body == b'{"subscription_id":456}' and ev.headers == {"k": "v"}
    assert (ev.topic, ev.entity_type, ev.action, ev.priority) == (
        "user.subscription",
        "subscription",
        "renewal_reminder",
        3,
    )
    assert ev.correlation_id == "renewal-456"
    assert abs(ev.scheduled_at - at.timestamp()) < 1e-6
    stats = await service.get_stats()
    assert (stats["pending"], stats["redis_pending"]) == (1, 0)
    status = await service.get_status(sid)
    assert status is not None and (status.status, status.tier) == ("pending", "cold")


async def test_hot_events_are_journaled_in_batches(
    service: SchedulerService, cold: ColdStore, hot: HotStore
) -> None:
    ids = [
        await service.schedule_event(topic="t", body=f"b{i}", delay_seconds=60) for i in range(5)
    ]
    assert service.runtime.journal is not None
    await service.runtime.journal.flush()
    assert await statuses(cold, *ids) == dict.fromkeys(ids, "transferred")
    assert (await service.get_stats())["pending"] == 0  # hot ones are not cold-pending
    status = await service.get_status(ids[0])
    assert status is not None
    assert (status.status, status.tier, status.hot_state) == ("scheduled", "hot", "pending")


async def test_a_known_schedule_id_is_kept_in_either_tier(
    service: SchedulerService, cold: ColdStore, hot: HotStore
) -> None:
    far = await service.schedule_event(topic="t", body="a", delay_seconds=7200, schedule_id="x-1")
    again = await service.schedule_event(topic="t", body="b", delay_seconds=60, schedule_id="x-1")
    assert far == again == "x-1"
    assert await hot.get("x-1") is None  # not also added to Redis
    near = await service.schedule_event(topic="t", body="a", delay_seconds=60, schedule_id="y-1")
    assert near == await service.schedule_event(
        topic="t", body="b", delay_seconds=7200, schedule_id="y-1"
    )
    assert service.runtime.journal is not None
    await service.runtime.journal.flush()
    rows = await cold.find(["x-1", "y-1"])
    assert sorted((r.event.schedule_id, r.status) for r in rows) == [
        ("x-1", Status.PENDING),
        ("y-1", Status.TRANSFERRED),
    ]


async def test_cancel_of_a_cold_event_and_status_afterwards(
    service: SchedulerService, cold: ColdStore
) -> None:
    sid = await service.schedule_event(topic="t", body="x", delay_seconds=86400 * 3)
    assert await service.cancel_event(sid) is CancelResult.PENDING
    assert not await service.cancel_event(sid)
    assert await statuses(cold, sid) == {sid: "cancelled"}
    status = await service.get_status(sid)
    assert status is not None and status.status == "cancelled"
    assert await service.get_status("never-scheduled") is None


async def test_cancel_of_a_hot_event_is_journaled(
    service: SchedulerService, cold: ColdStore
) -> None:
    sid = await service.schedule_event(topic="t", body="x", delay_seconds=60)
    assert await service.cancel_event(sid) is CancelResult.PENDING
    assert service.runtime.journal is not None
    await service.runtime.journal.flush()  # the 'transferred' row arrives after the cancel: loses
    assert await statuses(cold, sid) == {sid: "cancelled"}


async def test_router_without_a_cold_tier_still_refuses(hot: HotStore) -> None:
    from scheduler.errors import BeyondHorizon

    router = Router(hot, 60)
    now = time.time()
    ev = Event(schedule_id="far", topic="t", body=b"x", scheduled_at=now + 120)
    with pytest.raises(BeyondHorizon, match="SCHEDULES_COLD_TIER_ENABLED"):
        await router.store([ev], now)


async def test_kafka_sized_batches_store_both_tiers_at_once(
    cold_db: ClickHouse, cold: ColdStore, hot: HotStore
) -> None:
    router = Router(hot, 3600, cold=cold)
    now = time.time()
    events = [
        Event(schedule_id=f"e{i}", topic="t", body=b"x", scheduled_at=now + (60 if i % 2 else 7200))
        for i in range(2000)
    ]
    stored = await router.store(events, now)
    assert [s.tier for s in stored] == [Tier.COLD if i % 2 == 0 else Tier.HOT for i in range(2000)]
    assert all(s.added for s in stored)
    again = await router.store(events, now)  # a redelivered batch: nothing new
    assert not any(s.added for s in again[1::2])
    counts = await cold.count_by_status([Status.PENDING, Status.TRANSFERRED])
    assert counts == {"pending": 1000, "transferred": 1000}
    assert (await hot.counts())["pending"] == 1000
