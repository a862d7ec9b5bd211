"""The Python API's bulk scheduling: SchedulerService.schedule_events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest

from scheduler.errors import InvalidEvent
from scheduler.hot.store import HotStore
from scheduler.models import parse_request
from scheduler.router import Tier
from scheduler.service import SchedulerService
from scheduler.settings import Settings


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[SchedulerService]:
    svc = SchedulerService(settings.model_copy(update={"cold_tier_enabled": False}))
    await svc.start()
    yield svc
    await svc.stop()


def item(**kw: Any) -> dict[str, Any]:
    return {"topic": "user.notifications", "body": "x", "delay_seconds": 600, **kw}


async def test_each_item_gets_its_own_answer_and_a_bad_one_sinks_nothing(
    service: SchedulerService, hot: HotStore
) -> None:
    await service.schedule_event("t", "old", delay_seconds=60, schedule_id="known")
    await service.schedule_event("t", "old", delay_seconds=60, schedule_id="debounced")
    at = datetime.now(UTC) + timedelta(minutes=5)
    items: list[Any] = [
        item(schedule_id="a", body={"n": 1}),
        item(delay_seconds=-1),  # invalid: the model's words
        item(schedule_id="known"),  # already pending: kept
        parse_request(item(schedule_id="b", priority=3)),  # a validated request
        ["not", "an", "object"],
        MappingProxyType(item(schedule_id="c")),  # any mapping
        item(schedule_id="a", body="again"),  # a repeat of this call's first item
        item(schedule_id="debounced", body="new", on_conflict="replace"),
        {"topic": "t", "body": "x", "scheduled_at": at.isoformat()},
        item(headers={"attempt": "2"}),  # what only the limits tell
    ]
    results = await service.schedule_events(items, chunk=3)

    assert len(results) == len(items) and [r.index for r in results] == list(range(10))
    assert (results.accepted, results.rejected, results.added) == (7, 3, 4)
    a, bad, known, b, listed, c, again, debounced, at_time, reserved = results
    assert (a.ok, a.schedule_id, a.tier, a.added) == (True, "a", Tier.HOT, True)
    with pytest.raises(InvalidEvent) as raised:
        await service.schedule_event("t", "x", delay_seconds=-1)
    assert (bad.ok, bad.error, bad.field) == (False, str(raised.value), "delay_seconds")
    assert (known.ok, known.added, known.schedule_id) == (True, False, "known")
    assert (b.added, c.added, again.added, again.schedule_id) == (True, True, False, "a")
    assert (listed.ok, listed.field, listed.schedule_id) == (False, None, None)
    assert "must be an object (a dict)" in str(listed.error) and "not list" in str(listed.error)
    assert (debounced.ok, debounced.added, debounced.replaced) == (True, False, True)
    assert at_time.added and at_time.scheduled_at == pytest.approx(at.timestamp())
    assert (reserved.ok, reserved.field) == (False, "headers")
    assert "reserved" in str(reserved.error)

    stored = await hot.events(["a", "b", "c", "known", "debounced", str(at_time.schedule_id)])
    assert stored["a"].body == b'{"n":1}' and stored["b"].priority == 3
    assert stored["known"].body == b"old" and stored["debounced"].body == b"new"
    assert len(stored) == 6 and (await hot.counts())["pending"] == 6


async def test_items_may_come_from_a_generator_in_many_chunks(
    service: SchedulerService, hot: HotStore
) -> None:
    def items() -> Iterator[dict[str, Any]]:
        for i in range(25):
            yield item(schedule_id=f"g-{i}", body=str(i), priority=-i)

    results = await service.schedule_events(items(), chunk=4)
    assert [r.schedule_id for r in results] == [f"g-{i}" for i in range(25)]
    assert all(r.added and r.ok for r in results) and results[-1].index == 24
    assert [r.index for r in results[22:]] == [22, 23, 24] and results[-25].index == 0
    with pytest.raises(IndexError):
        results[-26]
    with pytest.raises(IndexError):
        results[25]
    stored = await hot.events([f"g-{i}" for i in range(25)])
    assert {sid: ev.priority for sid, ev in stored.items()} == {f"g-{i}": -i for i in range(25)}
    again = await service.schedule_events(items(), chunk=10)
    assert (again.accepted, sum(r.added for r in again)) == (25, 0)
    assert list(await service.schedule_events([])) == []


async def test_beyond_the_horizon_goes_cold_or_is_refused_without_the_cold_tier(
    hybrid_settings: Settings, settings: Settings, hot: HotStore
) -> None:
    hybrid = SchedulerService(
        hybrid_settings.model_copy(update={"immediate_horizon_seconds": 3600})
    )
    await hybrid.start()
    try:
        results = await hybrid.schedule_events(
            [item(delay_seconds=7200, schedule_id="far"), item(schedule_id="near")]
        )
        assert [(r.tier, r.added) for r in results] == [(Tier.COLD, True), (Tier.HOT, True)]
        status = await hybrid.get_status("far")
        assert status is not None and (status.status, status.tier) == ("pending", "cold")
    finally:
        await hybrid.stop()
    hot_only = SchedulerService(
        settings.model_copy(update={"immediate_horizon_seconds": 3600, "cold_tier_enabled": False})
    )
    await hot_only.start()
    try:
        (far,) = await hot_only.schedule_events([item(delay_seconds=7200)])
        assert (far.ok, far.field) == (False, "scheduled_at")
        assert "SCHEDULES_IMMEDIATE_HORIZON_SECONDS" in str(far.error)
    finally:
        await hot_only.stop()


class Unreadable(Mapping[str, Any]):
    """A mapping that fails when read: a defect outside the scheduler."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:
        return 1


async def test_an_item_failing_unexpectedly_is_reported_and_the_others_stored(
    service: SchedulerService, hot: HotStore, caplog: pytest.LogCaptureFixture
) -> None:
    results = await service.schedule_events([item(schedule_id="before"), Unreadable(), item()])
    assert [r.ok for r in results] == [True, False, True]
    assert (results[1].error, results[1].field) == ("internal error: RuntimeError", None)
    assert "item 1 failed unexpectedly" in caplog.text
    assert (await hot.counts())["pending"] == 2
