"""The one place that decides which tier stores an event.

Due within SCHEDULES_IMMEDIATE_HORIZON_SECONDS -> Redis hot tier (and a journal row in
ClickHouse); further out -> the ClickHouse cold tier, as 'pending', until the sync moves
it into Redis. Without a cold tier (SCHEDULES_COLD_TIER_ENABLED=false) further-out
events are refused with BeyondHorizon (never dropped): callers see the error, Kafka
ingest dead-letters it.

`store` returns once each event is in every store it must be in: Redis and/or
ClickHouse. Only the journal rows of hot events may be left to others: the API's to the
background journal writer (`wait_for_journal=False`), so an API call never waits for
ClickHouse; Kafka ingest's to its caller (`journal_to`), which writes them in large
inserts spanning several consumed batches and commits those batches' offsets after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.cold.journal import JournalWriter
from scheduler.cold.records import LIVE, Tier, micros
from scheduler.cold.store import ColdStore
from scheduler.errors import BeyondHorizon, ServiceUnavailable
from scheduler.hot.store import HotStore
from scheduler.models import Event

__all__ = ["Router", "Stored", "Tier"]


@dataclass(frozen=True, slots=True)
class Stored:
    """Per-event result of `Router.store`: `added` is False for a known schedule_id;
    `replaced`: a pending event under that id became this one (on_conflict=replace);
    `conflict`: why it could not (in flight), nothing stored."""

    tier: Tier
    added: bool
    replaced: bool = False
    conflict: str | None = None


# Per-event results of hot events, shared (they are immutable): Kafka ingest stores
# 50,000 events a second, and building one each cost ~1 us.
_HOT = {True: Stored(Tier.HOT, True), False: Stored(Tier.HOT, False)}


class Router:
    def __init__(
        self,
        hot: HotStore,
        immediate_horizon_seconds: float,
        cold: ColdStore | None = None,
        journal: JournalWriter | None = None,
    ) -> None:
        self.hot = hot
        self.horizon = immediate_horizon_seconds
        self.cold = cold
        self.journal = journal

    def tier_for(self, ev: Event, now: float) -> Tier:
        return Tier.HOT if ev.scheduled_at <= now + self.horizon else Tier.COLD

    def check(self, ev: Event, now: float) -> None:
        """Raise BeyondHorizon if no tier can take `ev`."""
        if self.cold is None and self.tier_for(ev, now) is Tier.COLD:
            raise BeyondHorizon(
                f"scheduled_at is more than {self.horizon:.0f}s ahead "
                "(SCHEDULES_IMMEDIATE_HORIZON_SECONDS) and the cold tier is disabled "
                "(SCHEDULES_COLD_TIER_ENABLED=false)",
                field="scheduled_at",
            )

    async def store(
        self,
        events: Sequence[Event],
        now: float,
        *,
        wait_for_journal: bool = True,
        check_known_ids: bool = False,
        journal_to: list[Event] | None = None,
    ) -> list[Stored]:
        """Store events that passed `check`, in order; one result per event.

        `journal_to`: the hot events to journal are appended to it instead of being
        written here; the caller writes them (ColdStore.write_journal) before it counts
        them stored.

        A schedule_id already pending or in flight in Redis is never added to Redis
        again, and one live in either tier is never added to the cold tier again (one
        indexed ClickHouse query for a batch's cold events). `check_known_ids` (API calls)
        also keeps an id that ClickHouse knows as live out of Redis; Kafka ingest skips
        that query for hot events (too slow for 50,000 events/s), so there a hot event
        whose id waits in ClickHouse is stored, and the sync skips the cold copy when the
        two meet in Redis.

        With the cold tier, the ids are locked in Redis for the duration (all or none,
        HotStore.locked_ids), so concurrent callers of one id are serialised: exactly one
        stores it and the others find it. If Redis loses its data or fails over (the locks
        stay on the primary: neither in the AOF nor on replicas), only locks held at that
        moment are lost: ClickHouse still refuses a second live cold row for an id a
        caller can find there.
        """
        latest = now + self.horizon
        hot_events: list[tuple[int, Event]] = []
        cold_events: list[tuple[int, Event]] = []
        for i, ev in enumerate(events):
            if ev.scheduled_at <= latest:
                hot_events.append((i, ev))
            else:
                self.check(ev, now)
                cold_events.append((i, ev))
        if self.cold is None:
            added = await self.hot.schedule([ev for _, ev in hot_events])
            return [_HOT[a] for a in added]
        # Checking the tiers for an id and storing it is one step for one caller at a
        # time: otherwise concurrent callers of one id all find nothing and all store.
        async with self.hot.locked_ids(ev.schedule_id for ev in events):
            return await self._store_in_tiers(
                len(events),
                hot_events,
                cold_events,
                now,
                wait_for_journal=wait_for_journal,
                check_known_ids=check_known_ids,
                journal_to=journal_to,
            )

    async def _store_in_tiers(
        self,
        n: int,
        hot_events: list[tuple[int, Event]],
        cold_events: list[tuple[int, Event]],
        now: float,
        *,
        wait_for_journal: bool,
        check_known_ids: bool,
        journal_to: list[Event] | None,
    ) -> list[Stored]:
        assert self.cold is not None
        results: list[Stored | None] = [None] * n
        # Cold events are always checked: nothing else keeps a second row of one id out
        # of ClickHouse. Hot ones only on request (Redis itself refuses a second copy).
        known = await self._known_ids(hot_events if check_known_ids else [], cold_events)
        in_redis = await self.hot.events([ev.schedule_id for _, ev in cold_events])
        for i, ev in hot_events + cold_events:
            if ev.schedule_id in known:
                results[i] = Stored(self.tier_for(ev, now), False)
        cold_new = []
        taken = {ev.schedule_id for _, ev in hot_events}  # an id repeated in one call
        for i, ev in cold_events:
            if results[i] is None:
                if ev.schedule_id in in_redis or ev.schedule_id in taken:
                    results[i] = Stored(Tier.COLD, False)
                else:
                    results[i] = Stored(Tier.COLD, True)
                    cold_new.append(ev)
                    taken.add(ev.schedule_id)
        to_redis = [(i, ev) for i, ev in hot_events if results[i] is None]
        added = await self.hot.schedule([ev for _, ev in to_redis])
        in_redis = await self.hot.events(
            [ev.schedule_id for (_, ev), a in zip(to_redis, added, strict=True) if not a]
        )
        journal: list[Event] = []
        for (i, ev), a in zip(to_redis, added, strict=True):
            results[i] = _HOT[a]
            # Journal what is in Redis now: the new ones, and those already there under
            # the same key (a retried batch whose journal write failed last time).
            same = in_redis.get(ev.schedule_id)
            if a or (same is not None and micros(same.scheduled_at) == micros(ev.scheduled_at)):
                journal.append(ev)
        if journal_to is not None:
            journal_to += journal
            await self.cold.write_new(cold_new)
        elif wait_for_journal or self.journal is None:
            await self.cold.write_new(cold_new, journal)
        else:
            self.journal.add_hot(journal)
            await self.cold.write_new(cold_new)
        return [r for r in results if r is not None]

    async def _known_ids(
        self, hot_events: list[tuple[int, Event]], cold_events: list[tuple[int, Event]]
    ) -> set[str]:
        """Ids the cold tier already has: live at any time, or (for cold events) under the
        same key in any status (a first version would not override it)."""
        assert self.cold is not None
        try:
            found = await self.cold.find(ev.schedule_id for _, ev in hot_events + cold_events)
        except ServiceUnavailable:
            if cold_events:
                raise
            return set()  # hot events still go to Redis while ClickHouse is away
        cold_keys = {(micros(ev.scheduled_at), ev.schedule_id) for _, ev in cold_events}
        return {s.event.schedule_id for s in found if s.status in LIVE or s.key in cold_keys}
