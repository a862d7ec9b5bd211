"""The Python API: `SchedulerService` schedules, cancels and reports, and
optionally runs the executor, the delayed-topic consumer and the sync in this process.

    service = SchedulerService(load_settings())
    await service.start()                                  # API only
    await service.start(roles=["executor", "consumer"])    # API + background roles
    sid = await service.schedule_event(topic="t", body="...", delay_seconds=30)
    await service.cancel_event(sid)
    await service.get_status(sid)
    await service.sync_clickhouse_to_redis()               # SyncResult (.moved, .seconds)
    await service.cleanup_old_schedules()                  # CleanupResult (.removed, ...)
    await service.stop()

What it connects and runs is its `runtime` (scheduler.runtime.Runtime); the cold tier is
connected at start unless SCHEDULES_COLD_TIER_ENABLED is false.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from scheduler import history, listing, metrics, rescheduling, stats
from scheduler.bulk import ItemResults
from scheduler.cold import ClickHouse
from scheduler.cold.cancel import cancel_schedule
from scheduler.cold.jobs import CleanupResult, RebuildResult, RecoveryResult, SyncResult
from scheduler.cold.operations import ColdOperations
from scheduler.cold.status import ScheduleStatus, schedule_status, stored_event
from scheduler.deadletters.model import (
    DEFAULT_LIMIT,
    Mode,
    Page,
    Query,
    Reason,
    ReplayResult,
    Source,
)
from scheduler.deadletters.operations import DeadLetters, Replay
from scheduler.errors import InvalidEvent, ScheduleConflict
from scheduler.fastpath import request_event
from scheduler.hot.outcome import OutcomeHandler
from scheduler.hot.pause import PauseControl, PauseState, Scope, scope_of
from scheduler.hot.ratelimit import RateLimitControl, RateLimitState, TopicLimit
from scheduler.hot.store import CancelResult, HotStore
from scheduler.models import (
    Event,
    Limits,
    OnConflict,
    RescheduleRequest,
    ScheduleRequest,
    parse_reschedule,
    rescheduled_event,
    to_event,
)
from scheduler.recurring.jobs import MaterializeResult
from scheduler.recurring.model import RecurringDefinition, RecurringRequest, parse_recurring
from scheduler.recurring.schedules import RecurringSchedules, Restored
from scheduler.recurring.timing import Occurrence
from scheduler.rescheduling import Rescheduled
from scheduler.router import Router, Stored, Tier
from scheduler.runtime import Runtime
from scheduler.settings import Settings

log = logging.getLogger(__name__)

# Items per store of schedule_events: SCHEDULES_API_MAX_BATCH's default, ~0.5 MB of
# 400-byte events, two bounded script calls (HotStore.SCHEDULE_CHUNK).
BULK_CHUNK = 1000


class SchedulerService:
    def __init__(
        self,
        settings: Settings,
        *,
        on_outcomes: OutcomeHandler | None = None,
        clickhouse: ClickHouse | None = None,
    ) -> None:
        """`on_outcomes`: called with each batch of firing outcomes (executor role).
        `clickhouse`: a client to use instead of connecting per settings (not closed by
        stop())."""
        self.settings = settings
        self.runtime = Runtime(settings, on_outcomes=on_outcomes, clickhouse=clickhouse)

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, roles: Iterable[str] = ()) -> None:
        """Connect the clients and start the given background roles (scheduler.roles)."""
        await self.runtime.start(roles)

    async def stop(self) -> None:
        """Stop the background roles, then close the clients."""
        await self.runtime.stop()

    async def wait(self) -> None:
        """Until a background role stops; re-raises its error."""
        await self.runtime.wait()

    def _require(self) -> tuple[HotStore, Router]:
        hot, router = self.runtime.hot, self.runtime.router
        if hot is None or router is None:
            raise RuntimeError("SchedulerService.start() was not called")
        return hot, router

    # --- the API -------------------------------------------------------------------------

    async def schedule_event(
        self,
        topic: str,
        body: str | dict[str, Any] | list[Any],
        *,
        entity_type: str = "",
        action: str = "",
        scheduled_at: datetime | None = None,
        delay_seconds: float | None = None,
        correlation_id: str | None = None,
        headers: dict[str, str] | None = None,
        priority: int = 0,
        max_delay_seconds: int | None = None,
        schedule_id: str | None = None,
        on_conflict: OnConflict | str = OnConflict.KEEP,
    ) -> str:
        """Schedule one event; returns its schedule_id (the given one if any).

        Scheduling a schedule_id that is already pending or in flight keeps the existing
        event; with on_conflict="replace" a pending one becomes this event (debounce) and
        one in flight raises ScheduleConflict. Raises InvalidEvent (naming the field) for
        bad input.
        """
        _, router = self._require()
        now = time.time()
        ev, replace = request_event(
            {
                "topic": topic,
                "body": body,
                "entity_type": entity_type,
                "action": action,
                "scheduled_at": scheduled_at,
                "delay_seconds": delay_seconds,
                "correlation_id": correlation_id,
                "headers": headers or {},
                "priority": priority,
                "max_delay_seconds": max_delay_seconds,
                "schedule_id": schedule_id,
                "on_conflict": on_conflict,
            },
            self.runtime.limits,
            now,
        )
        router.check(ev, now)
        return (await self._store_one(ev, replace, now, source="python"))[0]

    async def schedule_request(self, req: ScheduleRequest, *, source: str) -> tuple[str, bool]:
        """Store a validated request; returns (schedule_id, newly added)."""
        now = time.time()
        ev = self.prepare(req, now)
        return await self._store_one(ev, req.on_conflict is OnConflict.REPLACE, now, source=source)

    async def _store_one(
        self, ev: Event, replace: bool, now: float, *, source: str
    ) -> tuple[str, bool]:
        (stored,) = await self.store_events([ev], now, source=source, replace=[replace])
        if stored.conflict is not None:
            raise ScheduleConflict(stored.conflict, state=rescheduling.IN_FLIGHT)
        return ev.schedule_id, stored.added

    async def schedule_events(
        self,
        items: Iterable[Mapping[str, Any] | ScheduleRequest],
        *,
        source: str = "python",
        chunk: int = BULK_CHUNK,
    ) -> ItemResults:
        """Schedule many events; one ItemResult per item, in order, never an exception
        for a bad item: each item is a dict of schedule_event's arguments (`topic`,
        `body`, `delay_seconds` or `scheduled_at`, ...) or a ScheduleRequest. An invalid
        one gets `error` (naming it, as schedule_event would raise it) and `field`, and
        the others are stored. A schedule_id already scheduled, or repeated in `items`,
        is not added again (`added` False); with on_conflict="replace" a pending one
        becomes the new event (`replaced`), one in flight is an `error`.

        Items are stored `chunk` at a time, each chunk sent while the next is checked,
        so this process and Redis work at once. If storing fails (Redis unavailable:
        ServiceUnavailable, NotReplicated, ...) the error is raised: earlier chunks may
        be stored, and a retry with the same schedule_ids stores nothing twice.
        """
        _, router = self._require()
        limits = self.runtime.limits
        results = ItemResults()
        seen: set[str] = set()  # chunks in flight together must not race for one id
        sent: deque[tuple[asyncio.Future[list[Stored]], list[int]]] = deque()
        todo = iter(items)
        try:
            while chunk_items := list(itertools.islice(todo, max(1, chunk))):
                now = time.time()
                events: list[Event] = []
                replace: list[bool] = []
                where: list[int] = []
                rejected = 0
                for item in chunk_items:
                    try:
                        ev, swap = _item_event(item, limits, now)
                        tier = router.tier_for(ev, now)
                        if tier is Tier.COLD:
                            router.check(ev, now)
                    except InvalidEvent as exc:
                        results.refuse(str(exc), exc.field)
                        rejected += 1
                        continue
                    except Exception as exc:  # a defect (ours, or a Mapping's): not the others'
                        log.exception("schedule_events: item %d failed unexpectedly", len(results))
                        results.refuse(f"internal error: {type(exc).__name__}", None)
                        rejected += 1
                        continue
                    sid = ev.schedule_id
                    i = results.hold(sid, ev.scheduled_at, tier)
                    if sid in seen:  # a repeat answers like a known id, as in store_events
                        continue
                    seen.add(sid)
                    events.append(ev)
                    replace.append(swap)
                    where.append(i)
                del chunk_items
                if rejected:
                    metrics.EVENTS_REJECTED.labels(source).inc(rejected)
                if events:
                    store = self.store_events(events, now, source=source, replace=replace)
                    sent.append((asyncio.ensure_future(store), where))
                    del events
                    await asyncio.sleep(0)  # it encodes and sends; then the next chunk
                while len(sent) > 1:  # one chunk in Redis while the next is checked
                    task, at = sent.popleft()
                    results.stored(at, await task)
            while sent:
                task, at = sent.popleft()
                results.stored(at, await task)
        finally:
            if sent:  # a store failed: let the others finish before raising its error
                await asyncio.gather(*(task for task, _ in sent), return_exceptions=True)
        return results

    def prepare(self, req: ScheduleRequest, now: float) -> Event:
        """Resolve a validated request into the event to store, checking what only the
        settings can tell (size limits, a tier for its time); InvalidEvent names the field."""
        _, router = self._require()
        ev = to_event(req, self.runtime.limits, now)
        router.check(ev, now)
        return ev

    async def store_events(
        self,
        events: Sequence[Event],
        now: float,
        *,
        source: str,
        replace: Sequence[bool] = (),
    ) -> list[Stored]:
        """Store prepared events in one round of writes; one result per event, in order.

        A schedule_id already scheduled is not added again (`added` False); one repeated
        within `events` is stored once, and its repeats answer like a known id.
        `replace[i]` (on_conflict=replace): a pending event under events[i]'s id becomes
        events[i] (`replaced` True); if it is in flight, nothing changes and `conflict`
        says so.
        """
        _, router = self._require()
        index: dict[str, int] = {}
        unique: list[Event] = []
        replacing: list[Event] = []
        for i, ev in enumerate(events):
            if ev.schedule_id not in index:
                index[ev.schedule_id] = len(unique)
                unique.append(ev)
                if i < len(replace) and replace[i]:
                    replacing.append(ev)
        replaced: dict[str, Stored] = {}
        for ev in replacing:  # one at a time: each waits for its id's lock
            try:
                done = await rescheduling.replace_pending(router, ev, now)
            except ScheduleConflict as exc:
                conflict = Stored(router.tier_for(ev, now), False, conflict=str(exc))
                replaced[ev.schedule_id] = conflict
                continue
            if done is not None:
                replaced[ev.schedule_id] = Stored(done.tier, False, replaced=True)
        to_store = [ev for ev in unique if ev.schedule_id not in replaced] if replaced else unique
        stored_new = await router.store(to_store, now, wait_for_journal=False, check_known_ids=True)
        if replaced:
            new = iter(stored_new)
            stored = [replaced.get(ev.schedule_id) or next(new) for ev in unique]
        else:
            stored = stored_new
        added: dict[Tier, int] = {}
        for one in stored:
            if one.added:
                added[one.tier] = added.get(one.tier, 0) + 1
        for tier, n in added.items():
            _scheduled(source, tier).inc(n)
        if len(unique) == len(events):  # no id repeated within events
            return stored
        results: list[Stored] = []
        seen: set[str] = set()
        for ev in events:
            first = stored[index[ev.schedule_id]]
            results.append(Stored(first.tier, False) if ev.schedule_id in seen else first)
            seen.add(ev.schedule_id)
        return results

    async def cancel_event(self, schedule_id: str) -> CancelResult:
        """Cancel by id. The result is truthy if something was cancelled and says whether
        it was pending or in flight (then it may already have been published)."""
        hot, _ = self._require()
        rt = self.runtime
        if rt.cold is None:
            return await hot.cancel(schedule_id)
        return await cancel_schedule(rt.cold, hot, schedule_id, rt.journal)

    async def reschedule(
        self,
        schedule_id: str,
        *,
        scheduled_at: datetime | None = None,
        delay_seconds: float | None = None,
        body: str | dict[str, Any] | list[Any] | None = None,
        headers: dict[str, str] | None = None,
        priority: int | None = None,
    ) -> Rescheduled:
        """Give a pending event a new time (exactly one of scheduled_at / delay_seconds)
        and optionally a new body, headers or priority, atomically, in either tier
        (moving it across tiers when the new time crosses the horizon); the schedule_id
        stays. Raises UnknownSchedule, ScheduleConflict (in flight or finished: `.state`),
        InvalidEvent (naming the field)."""
        req = parse_reschedule(
            {
                "scheduled_at": scheduled_at,
                "delay_seconds": delay_seconds,
                "body": body,
                "headers": headers,
                "priority": priority,
            }
        )
        return await self.reschedule_request(schedule_id, req)

    async def reschedule_request(self, schedule_id: str, req: RescheduleRequest) -> Rescheduled:
        """`reschedule` with a validated request."""
        _, router = self._require()
        now = time.time()
        limits = self.runtime.limits
        return await rescheduling.reschedule(
            router, schedule_id, lambda ev: rescheduled_event(req, ev, limits, now), now
        )

    async def get_status(self, schedule_id: str) -> ScheduleStatus | None:
        """Where the schedule is and what happened to it; None if unknown."""
        hot, _ = self._require()
        return await schedule_status(self.runtime.cold, hot, schedule_id, self.runtime.journal)

    async def schedule_history(self, schedule_id: str) -> history.ScheduleHistory | None:
        """What happened to the schedule, oldest first (scheduler.history: created,
        rescheduled, moved into Redis, each delivery attempt, the current or final state);
        None if unknown. Without the cold tier, only what Redis holds now."""
        hot, _ = self._require()
        return await history.schedule_history(
            self.runtime.cold, hot, schedule_id, self.runtime.journal
        )

    async def list_schedules(
        self,
        *,
        status: str | Iterable[str] = (),
        tier: str | None = None,
        topic: str | None = None,
        entity_type: str | None = None,
        action: str | None = None,
        scheduled_from: datetime | None = None,
        scheduled_to: datetime | None = None,
        limit: int = listing.DEFAULT_LIMIT,
        cursor: str | None = None,
        counts: bool = True,
    ) -> listing.SchedulePage:
        """Schedules passing the filters (a status or several, tier, topic, entity type,
        action, scheduled_at in [scheduled_from, scheduled_to)), earliest first, `limit`
        (at most listing.MAX_LIMIT) per page; pass the page's `next_cursor` as `cursor`
        for the next. `counts`: also count them by status. InvalidEvent names a bad
        argument. Without the cold tier, Redis's events alone (scheduler.listing)."""
        hot, _ = self._require()
        f = listing.make_filter(
            status=[status] if isinstance(status, str) else status,
            tier=tier,
            topic=topic,
            entity_type=entity_type,
            action=action,
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
        )
        limit = listing.check_limit(limit)
        after = None if cursor is None else listing.decode_cursor(cursor)
        rt = self.runtime
        if rt.cold is None:
            return await listing.list_hot(hot, f, after=after, limit=limit, counts=counts)
        return await listing.list_cold(
            rt.cold, hot, rt.journal, f, after=after, limit=limit, counts=counts
        )

    async def get_event(self, schedule_id: str) -> Event | None:
        """The event as stored, body and headers included; None if no tier holds it (a
        finished event without the cold tier, or after the cleanup)."""
        hot, _ = self._require()
        return await stored_event(self.runtime.cold, hot, schedule_id, self.runtime.journal)

    def _ops(self) -> ColdOperations:
        self._require()
        return self.runtime.require_cold_ops()

    async def sync_clickhouse_to_redis(self, *, max_events: int | None = None) -> SyncResult:
        """Move cold schedules due within the transfer horizon into Redis (and demote hot
        ones beyond a lowered immediate horizon); `.moved` counts the events moved."""
        return await self._ops().sync(max_events=max_events)

    async def cleanup_old_schedules(self) -> CleanupResult:
        """Remove finished schedules older than retention and orphaned hot-tier data."""
        return await self._ops().cleanup()

    async def recover(self) -> RecoveryResult:
        """Resolve stuck 'processing' rows and expired Redis leases."""
        return await self._ops().recover()

    async def rebuild_hot_tier(self) -> RebuildResult:
        """Put every schedule ClickHouse says is in Redis back into an emptied Redis."""
        return await self._ops().rebuild_hot()

    async def pause(
        self,
        scope: Scope | str = Scope.ALL,
        *,
        topic: str | None = None,
        priority_below: int | None = None,
        reason: str | None = None,
    ) -> PauseState:
        """Stop firing everything (`all`), one `topic`, or priorities below
        `priority_below` (`priority`). Paused events stay scheduled; see resume()."""
        hot, _ = self._require()
        state = await PauseControl(hot).pause(
            scope_of(scope), topic=topic, priority_below=priority_below, reason=reason
        )
        log.warning(
            "pause started: %s%s%s; active pauses: %d, held events: %d",
            scope_of(scope).value,
            f" {topic}" if topic else "",
            f" below {priority_below}" if priority_below is not None else "",
            len(state.pauses),
            state.held,
        )
        return state

    async def resume(
        self, scope: Scope | str = Scope.ALL, *, topic: str | None = None
    ) -> PauseState:
        """End a pause (`all` ends every pause); held events fire at once."""
        hot, _ = self._require()
        state, moved = await PauseControl(hot).resume(scope_of(scope), topic=topic)
        log.warning(
            "pause ended: %s%s; %d held events returned, active pauses: %d",
            scope_of(scope).value,
            f" {topic}" if topic else "",
            moved,
            len(state.pauses),
        )
        return state

    # --- recurring schedules (scheduler.recurring) -------------------------------------------

    def _recurring(self) -> RecurringSchedules:
        self._require()
        assert self.runtime.recurring is not None
        return self.runtime.recurring

    async def create_recurring(
        self, definition: RecurringRequest | dict[str, Any]
    ) -> tuple[RecurringDefinition, bool]:
        """Store a recurring schedule and materialise its first occurrences: (definition,
        True). The same definition again answers (the stored one, False); another one
        under the same recurring_id raises RecurringConflict. InvalidEvent names a bad
        field (`event.<field>` for the template)."""
        return await self._recurring().create(_recurring_request(definition))

    async def get_recurring(self, recurring_id: str) -> RecurringDefinition:
        """The definition; RecurringNotFound if there is none."""
        return await self._recurring().get(recurring_id)

    async def list_recurring(self) -> list[RecurringDefinition]:
        """Every definition, by recurring_id."""
        return await self._recurring().all()

    async def update_recurring(
        self,
        definition: RecurringRequest | dict[str, Any],
        *,
        expected_version: int | None = None,
        create: bool = False,
    ) -> RecurringDefinition:
        """Replace a definition and, atomically, its not-yet-fired occurrences.
        `expected_version`: RecurringConflict unless the stored version is that one;
        `create`: store it when there is none."""
        req = _recurring_request(definition)
        return await self._recurring().update(
            req.recurring_id, req, expected_version=expected_version, create=create
        )

    async def pause_recurring(self, recurring_id: str) -> RecurringDefinition:
        """Stop materialising; pending occurrences are cancelled."""
        return await self._recurring().pause(recurring_id)

    async def resume_recurring(self, recurring_id: str) -> RecurringDefinition:
        """Materialise again; occurrences missed meanwhile follow the catch-up policy."""
        return await self._recurring().resume(recurring_id)

    async def delete_recurring(
        self, recurring_id: str, *, expected_version: int | None = None
    ) -> RecurringDefinition:
        """Delete a definition and cancel its pending occurrences; returns what it was."""
        return await self._recurring().delete(recurring_id, expected_version=expected_version)

    async def preview_recurring(
        self, definition: str | RecurringRequest | dict[str, Any], count: int = 10
    ) -> list[Occurrence]:
        """The next `count` occurrences of a stored definition (by id) or of an unsaved one."""
        recurring = self._recurring()
        if isinstance(definition, str):
            return await recurring.preview(await recurring.get(definition), count)
        return await recurring.preview(_recurring_request(definition), count)

    async def restore_recurring(self) -> Restored:
        """After Redis lost its data: put back the definitions the cold tier's mirror
        has and Redis has not. ConfigError without the cold tier."""
        return await self._recurring().restore()

    async def materialize_recurring(self) -> MaterializeResult:
        """Materialise every definition's occurrences due within the window (what the
        periodic job runs)."""
        return await self._recurring().materialize_all()

    # --- per-topic rate limits (scheduler.hot.ratelimit) --------------------------------------

    def _limits(self) -> RateLimitControl:
        hot, _ = self._require()
        return RateLimitControl(hot, self.settings.rate_limits)

    async def set_rate_limit(
        self, topic: str, events_per_second: float, *, burst: float | None = None
    ) -> TopicLimit:
        """Fire at most `events_per_second` events to `topic`, in bursts of at most `burst`
        (default: one second's worth, at least one), from every executor's next claim on.
        Overrides SCHEDULES_TOPIC_RATE_LIMITS for that topic; kept in Redis. Events over
        the limit wait, in due order, and fire as it allows (never dropped or early)."""
        limit = await self._limits().set(topic, events_per_second, burst)
        log.warning(
            "rate limit set: %s at %g events/s (burst %g)",
            topic,
            limit.limit.rate,
            limit.limit.capacity,
        )
        return limit

    async def clear_rate_limit(self, topic: str) -> bool:
        """Remove the limit set at run time for `topic` (its SCHEDULES_TOPIC_RATE_LIMITS
        entry, if any, applies again); False if it had none."""
        removed = await self._limits().clear(topic)
        if removed:
            log.warning("rate limit cleared: %s", topic)
        return removed

    async def get_rate_limit(self, topic: str) -> TopicLimit | None:
        """The limit in force for `topic` (set at run time, else by the settings), if any."""
        return await self._limits().get(topic)

    async def rate_limits(self) -> RateLimitState:
        """Every limit in force, and the due events waiting for one, per topic."""
        return await self._limits().state()

    # --- dead letters ---------------------------------------------------------------------

    def _dead_letters(self) -> DeadLetters:
        hot, router = self._require()
        return DeadLetters(self.settings, hot, self.runtime.cold, router, self.store_events)

    async def list_dead_letters(
        self,
        *,
        reason: Reason | str | None = None,
        topic: str | None = None,
        source: Source | str = Source.ALL,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Page:
        """Dead letters (the dead-letter topic, read within a bound, and the cold tier's
        error rows), newest first; each item's `id` selects it for replay_dead_letters."""
        return await self._dead_letters().listing(
            _query(reason, topic, source, since, until, limit)
        )

    async def replay_dead_letters(
        self,
        ids: Sequence[str] | None = None,
        *,
        reason: Reason | str | None = None,
        topic: str | None = None,
        source: Source | str = Source.ALL,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        mode: Mode | str = Mode.SAME_ID,
        dry_run: bool = False,
    ) -> ReplayResult:
        """Schedule dead letters again: those `ids` name, else (at most `limit`) those the
        filters match. A dead letter is replayed once however often this is called; one
        that cannot be (an invalid envelope) is reported with the reason."""
        return await self._dead_letters().replay(
            Replay(
                ids=None if ids is None else tuple(ids),
                query=_query(reason, topic, source, since, until, limit),
                mode=Mode(mode),
                dry_run=dry_run,
            )
        )

    async def get_stats(self) -> dict[str, Any]:
        """Queue depths of both tiers, in flight, paused, and this process's roles
        (scheduler.stats.collect says which fields when)."""
        hot, _ = self._require()
        return await stats.collect(self.runtime, hot)


def _recurring_request(definition: RecurringRequest | dict[str, Any]) -> RecurringRequest:
    return definition if isinstance(definition, RecurringRequest) else parse_recurring(definition)


def _query(
    reason: Reason | str | None,
    topic: str | None,
    source: Source | str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Query:
    return Query(
        reason=None if reason is None else Reason(reason),
        topic=topic,
        source=Source(source),
        since=since,
        until=until,
        limit=limit,
    )


def _item_event(
    item: Mapping[str, Any] | ScheduleRequest, limits: Limits, now: float
) -> tuple[Event, bool]:
    if type(item) is dict or isinstance(item, ScheduleRequest):
        return request_event(item, limits, now)
    if isinstance(item, Mapping):
        return request_event(dict(item), limits, now)
    raise InvalidEvent(
        f"must be an object (a dict) of the event's fields, not {type(item).__name__}",
        field=None,
    )


_SCHEDULED: dict[tuple[str, Tier], Any] = {}


def _scheduled(source: str, tier: Tier) -> Any:
    """EVENTS_SCHEDULED's child for (source, tier), looked up once."""
    child = _SCHEDULED.get((source, tier))
    if child is None:
        child = _SCHEDULED[source, tier] = metrics.EVENTS_SCHEDULED.labels(source, tier.value)
    return child
