"""The Python API: schedule_event, cancel_event, get_stats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.errors import BeyondHorizon, InvalidEvent, ServiceUnavailable
from scheduler.hot.store import CancelResult, HotStore
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[SchedulerService]:
    svc = SchedulerService(settings)
    await svc.start()
    yield svc
    await svc.stop()


async def test_schedule_and_cancel_through_the_python_api(
    service: SchedulerService, hot: HotStore
) -> None:
    sid = await service.schedule_event(
        topic="user.notifications",
        entity_type="user",
        action="send_reminder",
        body='{"user_id": 123}',
        scheduled_at=datetime.now(UTC) + timedelta(minutes=30),
        correlation_id="reminder-123",
        headers={"priority": "high"},
        priority=1,
    )
    found = await hot.get(sid)
    assert found is not None and found[0] == "pending"
    assert found[1].body == b'{"user_id": 123}' and found[1].priority == 1
    stats = await service.get_stats()
    assert (stats["redis_pending"], stats["pending"], stats["in_flight"]) == (1, 0, 0)
    assert await service.cancel_event(sid) is CancelResult.PENDING
    assert not await service.cancel_event(sid)
    assert (await service.get_stats())["redis_pending"] == 0


async def test_given_schedule_id_is_an_idempotency_key(
    service: SchedulerService, hot: HotStore
) -> None:
    first = await service.schedule_event(
        topic="t", body="a", delay_seconds=60, schedule_id="order-1"
    )
    second = await service.schedule_event(
        topic="t", body="b", delay_seconds=5, schedule_id="order-1"
    )
    assert first == second == "order-1"
    assert (await hot.counts())["pending"] == 1
    found = await hot.get("order-1")
    assert found is not None and found[1].body == b"a"


async def test_beyond_the_horizon_goes_to_the_cold_tier(
    hybrid_settings: Settings, hot: HotStore
) -> None:
    svc = SchedulerService(hybrid_settings.model_copy(update={"immediate_horizon_seconds": 3600}))
    await svc.start()
    try:
        sid = await svc.schedule_event(topic="t", body="x", delay_seconds=7200)
        assert await hot.get(sid) is None
        status = await svc.get_status(sid)
        assert status is not None and (status.status, status.tier) == ("pending", "cold")
        stats = await svc.get_stats()
        assert (stats["pending"], stats["redis_pending"]) == (1, 0)
        with pytest.raises(InvalidEvent, match="topic"):
            await svc.schedule_event(topic="", body="x", delay_seconds=1)
    finally:
        await svc.stop()


async def test_beyond_the_horizon_is_refused_when_the_cold_tier_is_disabled(
    settings: Settings,
) -> None:
    svc = SchedulerService(
        settings.model_copy(update={"immediate_horizon_seconds": 3600, "cold_tier_enabled": False})
    )
    await svc.start()
    try:
        with pytest.raises(BeyondHorizon, match="SCHEDULES_IMMEDIATE_HORIZON_SECONDS"):
            await svc.schedule_event(topic="t", body="x", delay_seconds=7200)
        with pytest.raises(InvalidEvent, match="topic"):
            await svc.schedule_event(topic="", body="x", delay_seconds=1)
    finally:
        await svc.stop()


async def test_unreachable_redis_is_a_clear_error(settings: Settings) -> None:
    svc = SchedulerService(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    with pytest.raises(ServiceUnavailable, match=r"Redis at redis://127\.0\.0\.1:1/0"):
        await svc.start()


async def test_roles_report_running_and_unknown_roles_are_refused(settings: Settings) -> None:
    await ensure_topics(settings, [settings.delayed_topic, settings.dead_letter_topic])
    svc = SchedulerService(settings)
    with pytest.raises(ValueError, match="unknown roles"):
        await svc.start(roles=["executer"])
    await svc.start(roles=["executor"])
    try:
        stats = await svc.get_stats()
        assert stats["running"] == {"executor": True}
        assert stats["circuit_breaker"] == "closed"
    finally:
        await svc.stop()


async def test_pause_and_resume_through_the_python_api(service: SchedulerService) -> None:
    state = await service.pause("topic", topic="orders", reason="INC-7")
    assert state.topics == ["orders"]
    state = await service.pause("priority", priority_below=-1)
    assert (await service.get_stats())["paused"] | {"pauses": None} == {
        "active": True,
        "all": False,
        "topics": ["orders"],
        "priority_below": -1,
        "held": 0,
        "pauses": None,
    }
    with pytest.raises(InvalidEvent) as err:
        await service.pause("everything")
    assert err.value.field == "scope"
    assert not (await service.resume()).pauses
