"""The one place that decides which tier stores an event.

Due within SCHEDULES_IMMEDIATE_HORIZON_SECONDS -> Redis hot tier; further out -> the
ClickHouse cold tier. Until a cold tier is configured, further-out events are refused
with BeyondHorizon (never dropped): callers see the error, Kafka ingest dead-letters it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.errors import BeyondHorizon
from scheduler.hot.store import HotStore
from scheduler.models import Event


class Tier(enum.StrEnum):
    HOT = "hot"
    COLD = "cold"


@dataclass(frozen=True, slots=True)
class Stored:
    """Per-event result of `Router.store`: `added` is False for a known schedule_id."""

    tier: Tier
    added: bool


class Router:
    def __init__(self, hot: HotStore, immediate_horizon_seconds: float) -> None:
        self.hot = hot
        self.horizon = immediate_horizon_seconds

    def tier_for(self, ev: Event, now: float) -> Tier:
        return Tier.HOT if ev.scheduled_at <= now + self.horizon else Tier.COLD

    def check(self, ev: Event, now: float) -> None:
        """Raise BeyondHorizon if no tier can take `ev`."""
        if self.tier_for(ev, now) is Tier.COLD:
            raise BeyondHorizon(
                f"scheduled_at is more than {self.horizon:.0f}s ahead "
                "(SCHEDULES_IMMEDIATE_HORIZON_SECONDS) and no cold tier is configured"
            )

    async def store(self, events: Sequence[Event], now: float) -> list[Stored]:
        """Store events that passed `check`, in order; one result per event."""
        for ev in events:
            self.check(ev, now)
        added = await self.hot.schedule(events)
        return [Stored(Tier.HOT, a) for a in added]
