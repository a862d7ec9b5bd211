"""The Python API's rate limits: SchedulerService.set_rate_limit, get_rate_limit,
rate_limits, clear_rate_limit, and what get_stats reports, with an executor role in the
same service firing to the real broker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from conftest import eventually

from scheduler.errors import InvalidEvent
from scheduler.hot.ratelimit import Source
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import RateLimit, Settings


@pytest.fixture
async def service(settings: Settings, uid: str) -> AsyncIterator[SchedulerService]:
    svc = SchedulerService(settings.model_copy(update={"topic_rate_limits": f"set-{uid}=100"}))
    await svc.start(roles=["executor"])
    yield svc
    await svc.stop()


async def test_rate_limits_through_the_python_api(
    service: SchedulerService, settings: Settings, read_topic, uid: str
) -> None:
    topic = f"limited-{uid}"
    await ensure_topics(settings, [topic])
    limit = await service.set_rate_limit(topic, 2, burst=1)
    assert (limit.limit, limit.source) == (RateLimit(2.0, 1.0), Source.RUNTIME)
    assert await service.get_rate_limit(topic) == limit
    assert [x.topic for x in (await service.rate_limits()).limits] == [topic, f"set-{uid}"]
    reader = await read_topic(topic)
    started = time.time()
    for i in range(10):
        await service.schedule_event(topic, f"b{i}", delay_seconds=0, schedule_id=f"e{i}")
    # One at once (the burst), then two a second.
    assert len(await reader.read(3, timeout=10)) >= 3
    fired = len(await reader.settle(0.2))
    assert fired <= 1 + 2 * (time.time() - started) + 1
    stats = await service.get_stats()
    assert 0 < stats["rate_limits"]["throttled"] <= 10 - fired
    assert stats["redis_pending"] >= stats["rate_limits"]["throttled"]  # still pending
    assert stats["rate_limits"]["limits"][0]["topic"] == topic

    assert await service.clear_rate_limit(topic)
    assert not await service.clear_rate_limit(topic)
    assert await service.get_rate_limit(topic) is None
    assert len(await reader.read(10, timeout=10)) == 10  # the rest at once
    assert await eventually(lambda: _drained(service))
    with pytest.raises(InvalidEvent) as err:
        await service.set_rate_limit(topic, -1)
    assert err.value.field == "events_per_second"


async def _drained(service: SchedulerService) -> bool:
    stats = await service.get_stats()
    return stats["redis_pending"] == 0 and stats["rate_limits"]["throttled"] == 0
