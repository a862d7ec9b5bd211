"""Which tier takes an event (scheduler/router.py). No Redis or ClickHouse: the methods
under test decide from times alone; `store` only meets a recording stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.errors import BeyondHorizon, InvalidEvent
from scheduler.router import Router, Tier
from unit.fakes import make_event

NOW = 1_700_000_000.0
HORIZON = 3600.0
NO_HOT: Any = None  # tier_for and check never touch the stores
SOME_COLD: Any = object()  # a cold tier that is there (never called by tier_for/check)


@pytest.mark.parametrize(
    ("offset", "tier"),
    [
        (-86_400, Tier.HOT),  # overdue: fire at once
        (0, Tier.HOT),
        (HORIZON - 0.000001, Tier.HOT),
        (HORIZON, Tier.HOT),  # the horizon itself is still hot
        (HORIZON + 0.000001, Tier.COLD),
        (30 * 86_400, Tier.COLD),
    ],
)
def test_tier_for_splits_at_the_horizon(offset: float, tier: Tier) -> None:
    router = Router(NO_HOT, HORIZON, cold=SOME_COLD)
    assert router.tier_for(make_event(at=NOW + offset), NOW) is tier


def test_the_horizon_moves_with_now() -> None:
    router = Router(NO_HOT, HORIZON)
    ev = make_event(at=NOW + HORIZON + 60)
    assert router.tier_for(ev, NOW) is Tier.COLD
    assert router.tier_for(ev, NOW + 60) is Tier.HOT


def test_check_refuses_beyond_the_horizon_without_a_cold_tier() -> None:
    router = Router(NO_HOT, HORIZON, cold=None)
    with pytest.raises(BeyondHorizon) as err:
        router.check(make_event(at=NOW + HORIZON + 1), NOW)
    assert isinstance(err.value, InvalidEvent)  # a 422 / dead letter, not a 500
    assert err.value.field == "scheduled_at"
    message = str(err.value)
    assert "SCHEDULES_IMMEDIATE_HORIZON_SECONDS" in message
    assert "SCHEDULES_COLD_TIER_ENABLED=false" in message
    assert "3600s" in message


def test_check_accepts_within_the_horizon_without_a_cold_tier() -> None:
    router = Router(NO_HOT, HORIZON, cold=None)
    router.check(make_event(at=NOW + HORIZON), NOW)
    router.check(make_event(at=NOW - 10), NOW)


def test_check_accepts_anything_with_a_cold_tier() -> None:
    router = Router(NO_HOT, HORIZON, cold=SOME_COLD)
    router.check(make_event(at=NOW + 365 * 86_400), NOW)


class RecordingHot:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def schedule(self, events: list[Any]) -> list[bool]:
        self.calls.append([ev.schedule_id for ev in events])
        return [ev.schedule_id != "known" for ev in events]


async def test_store_without_a_cold_tier_refuses_the_whole_batch_before_storing() -> None:
    """One event beyond the horizon: nothing of the batch is stored (no partial batch)."""
    hot = RecordingHot()
    router = Router(hot, HORIZON)  # type: ignore[arg-type]
    batch = [make_event("a", at=NOW), make_event("far", at=NOW + HORIZON + 1)]
    with pytest.raises(BeyondHorizon):
        await router.store(batch, NOW)
    assert hot.calls == []


async def test_store_without_a_cold_tier_puts_everything_in_redis() -> None:
    hot = RecordingHot()
    router = Router(hot, HORIZON)  # type: ignore[arg-type]
    batch = [make_event("a", at=NOW), make_event("known", at=NOW + 5), make_event("b", at=NOW)]
    stored = await router.store(batch, NOW)
    assert hot.calls == [["a", "known", "b"]]
    assert [(s.tier, s.added) for s in stored] == [
        (Tier.HOT, True),
        (Tier.HOT, False),  # a known schedule_id is not added twice
        (Tier.HOT, True),
    ]
