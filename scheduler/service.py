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

The cold tier (ClickHouse) is connected at start unless SCHEDULES_COLD_TIER_ENABLED is
false; start refuses a schema with pending migrations unless
SCHEDULES_CLICKHOUSE_AUTO_MIGRATE is set (as `hybrid-scheduler dev` does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from scheduler import metrics
from scheduler.cold import ClickHouse, check_migrations, connect_clickhouse, migrate
from scheduler.cold.analytics import ScheduleAnalyticsService
from scheduler.cold.cancel import cancel_schedule
from scheduler.cold.jobs import CleanupResult, RebuildResult, RecoveryResult, SyncResult
from scheduler.cold.journal import JournalWriter
from scheduler.cold.maintenance import Maintenance
from scheduler.cold.operations import ColdConfig, ColdOperations
from scheduler.cold.records import Status
from scheduler.cold.status import ScheduleStatus, schedule_status
from scheduler.cold.store import ColdStore
from scheduler.errors import ConfigError, ServiceUnavailable
from scheduler.hot.executor import Executor, ExecutorConfig
from scheduler.hot.keys import Keys
from scheduler.hot.outcome import Outcome, OutcomeHandler
from scheduler.hot.pause import PauseControl, PauseState, Scope, scope_of
from scheduler.hot.store import CancelResult, HotStore
from scheduler.ingest.consumer import DelayedEventsConsumer
from scheduler.kafka import ensure_topics, make_consumer, make_producer
from scheduler.models import Event, Limits, ScheduleRequest, parse_request, to_event
from scheduler.roles import ROLES
from scheduler.router import Router, Stored
from scheduler.settings import Settings

log = logging.getLogger(__name__)


class SchedulerService:
    def __init__(
        self,
        settings: Settings,
        *,
        on_outcomes: OutcomeHandler | None = None,
        clickhouse: ClickHouse | None = None,
    ) -> None:
        """`clickhouse`: a client to use instead of connecting per settings (not closed
        by stop())."""
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.on_outcomes = on_outcomes
        self.redis: Redis | None = None
        self.hot: HotStore | None = None
        self.router: Router | None = None
        self.executor: Executor | None = None
        self.consumer: DelayedEventsConsumer | None = None
        self.clickhouse: ClickHouse | None = clickhouse
        self._own_clickhouse = clickhouse is None
        self.cold: ColdStore | None = None
        self.journal: JournalWriter | None = None
        self.cold_ops: ColdOperations | None = None
        self.analytics: ScheduleAnalyticsService | None = None
        self.maintenance: Maintenance | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closers: list[Any] = []

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, roles: Iterable[str] = ()) -> None:
        roles = list(roles)
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; choose from {ROLES}")
        s = self.settings
        self.redis = Redis.from_url(s.redis_url, decode_responses=False)
        try:
            await self.redis.ping()
        except Exception as exc:
            await self.redis.aclose()
            raise ServiceUnavailable(f"Redis at {s.redis_url} is unreachable: {exc}") from exc
        self.hot = HotStore(self.redis, Keys(s.redis_key_prefix))
        if "sync" in roles and not s.cold_tier_enabled:
            await self.redis.aclose()
            raise ConfigError("the sync role needs the cold tier (SCHEDULES_COLD_TIER_ENABLED)")
        if s.cold_tier_enabled:
            try:
                await self._start_cold()
            except BaseException:
                await self._stop_cold()
                await self.redis.aclose()
                raise
        self.router = Router(
            self.hot, s.immediate_horizon_seconds, cold=self.cold, journal=self.journal
        )
        try:
            await self._start_roles(roles)
        except BaseException:
            await self.stop()  # what did start, stops; clients close
            raise
        log.info("scheduler started (roles: %s)", ", ".join(roles) or "api only")

    async def _start_roles(self, roles: list[str]) -> None:
        s = self.settings
        assert self.hot is not None and self.router is not None
        if roles:
            await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
        if "executor" in roles:
            producer = make_producer(s)
            await producer.start()
            self._closers.append(producer.stop)
            self.executor = Executor(
                self.hot, producer, ExecutorConfig.from_settings(s), on_outcomes=self._outcomes
            )
            self._tasks["executor"] = asyncio.create_task(self.executor.run(), name="executor")
        if "sync" in roles:
            assert self.cold_ops is not None
            self.maintenance = Maintenance(
                self.cold_ops,
                sync_interval=s.clickhouse_sync_interval,
                cleanup_interval=s.cleanup_interval,
            )
            self._tasks["sync"] = asyncio.create_task(self.maintenance.run(), name="sync")
        if "consumer" in roles:
            dlq_producer = make_producer(s)
            await dlq_producer.start()
            consumer = make_consumer(s, s.delayed_topic)
            await consumer.start()
            self._closers += [dlq_producer.stop, consumer.stop]
            self.consumer = DelayedEventsConsumer(
                consumer,
                dlq_producer,
                self.router,
                self.limits,
                s.dead_letter_topic,
                batch_size=s.ingest_batch_size,
                max_dead_letter_bytes=s.max_body_bytes,
            )
            self._tasks["consumer"] = asyncio.create_task(self.consumer.run(), name="consumer")

    async def _start_cold(self) -> None:
        s = self.settings
        assert self.hot is not None
        if self.clickhouse is None:
            self.clickhouse = await connect_clickhouse(
                s,
                database=s.clickhouse_database,
                create_database=s.clickhouse_auto_migrate,
                pool_size=8,
            )
        ttl = s.execution_history_ttl_days
        if s.clickhouse_auto_migrate:
            done = await migrate(self.clickhouse, execution_history_ttl_days=ttl)
            if done:
                log.info("applied ClickHouse migrations: %s", ", ".join(done))
        else:
            await check_migrations(self.clickhouse, execution_history_ttl_days=ttl)
        self.cold = ColdStore(self.clickhouse)
        self.journal = JournalWriter(
            self.cold,
            batch_size=s.analytics_batch_size,
            flush_interval=s.analytics_flush_interval,
            record_results=s.analytics_enabled,
            node_id=s.node_id,
        )
        self.journal.start()
        self.cold_ops = ColdOperations(self.cold, self.hot, ColdConfig.from_settings(s))
        self.analytics = ScheduleAnalyticsService(self.clickhouse)

    async def _stop_cold(self) -> None:
        if self.journal is not None:
            await self.journal.close()
        if self.clickhouse is not None and self._own_clickhouse:
            await self.clickhouse.close()
            self.clickhouse = None
        self.journal = self.cold = self.cold_ops = self.analytics = None

    async def _outcomes(self, outcomes: list[Outcome]) -> None:
        if self.journal is not None:
            await self.journal.record(outcomes)
        if self.on_outcomes is not None:
            await self.on_outcomes(outcomes)

    async def stop(self) -> None:
        for role in (self.consumer, self.executor, self.maintenance):
            if role is not None:
                role.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks.values(), timeout=15)
            for t in pending:
                t.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                log.warning("closing a client failed", exc_info=True)
        self._tasks.clear()
        self._closers.clear()
        await self._stop_cold()
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    async def wait(self) -> None:
        """Until a background role stops; re-raises its error."""
        if self._tasks:
            done, _ = await asyncio.wait(self._tasks.values(), return_when="FIRST_COMPLETED")
            for t in done:
                t.result()

    def _require(self) -> tuple[HotStore, Router]:
        if self.hot is None or self.router is None:
            raise RuntimeError("SchedulerService.start() was not called")
        return self.hot, self.router

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
    ) -> str:
        """Schedule one event; returns its schedule_id (the given one if any).

        Scheduling a schedule_id that is already pending or in flight keeps the existing
        event. Raises InvalidEvent (naming the field) for bad input.
        """
        req = parse_request(
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
            }
        )
        return (await self.schedule_request(req, source="python"))[0]

    async def schedule_request(self, req: ScheduleRequest, *, source: str) -> tuple[str, bool]:
        """Store a validated request; returns (schedule_id, newly added)."""
        now = time.time()
        ev = self.prepare(req, now)
        (stored,) = await self.store_events([ev], now, source=source)
        return ev.schedule_id, stored.added

    def prepare(self, req: ScheduleRequest, now: float) -> Event:
        """Resolve a validated request into the event to store, checking what only the
        settings can tell (size limits, a tier for its time); InvalidEvent names the field."""
        _, router = self._require()
        ev = to_event(req, self.limits, now)
        router.check(ev, now)
        return ev

    async def store_events(
        self, events: Sequence[Event], now: float, *, source: str
    ) -> list[Stored]:
        """Store prepared events in one round of writes; one result per event, in order.

        A schedule_id already scheduled is not added again (`added` False); one repeated
        within `events` is stored once, and its repeats answer like a known id.
        """
        _, router = self._require()
        index: dict[str, int] = {}
        unique: list[Event] = []
        for ev in events:
            if ev.schedule_id not in index:
                index[ev.schedule_id] = len(unique)
                unique.append(ev)
        stored = await router.store(unique, now, wait_for_journal=False, check_known_ids=True)
        for tier, n in Counter(s.tier.value for s in stored if s.added).items():
            metrics.EVENTS_SCHEDULED.labels(source, tier).inc(n)
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
        if self.cold is None:
            return await hot.cancel(schedule_id)
        return await cancel_schedule(self.cold, hot, schedule_id, self.journal)

    async def get_status(self, schedule_id: str) -> ScheduleStatus | None:
        """Where the schedule is and what happened to it; None if unknown."""
        hot, _ = self._require()
        return await schedule_status(self.cold, hot, schedule_id, self.journal)

    def _ops(self) -> ColdOperations:
        self._require()
        if self.cold_ops is None:
            raise ConfigError("the cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false)")
        return self.cold_ops

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
        log.warning("pause %s %s started; now paused: %s", scope, topic or "", state.to_dict())
        return state

    async def resume(
        self, scope: Scope | str = Scope.ALL, *, topic: str | None = None
    ) -> PauseState:
        """End a pause (`all` ends every pause); held events fire at once."""
        hot, _ = self._require()
        state, moved = await PauseControl(hot).resume(scope_of(scope), topic=topic)
        log.warning("resumed %s %s: %d held events returned", scope, topic or "", moved)
        return state

    async def get_stats(self) -> dict[str, Any]:
        hot, _ = self._require()
        counts = await hot.counts()
        running = {name: not t.done() for name, t in self._tasks.items()}
        paused = await PauseControl(hot).state()
        metrics.REDIS_PENDING.set(counts["pending"])
        metrics.IN_FLIGHT.set(counts["in_flight"])
        metrics.PAUSES.set(len(paused.pauses))
        metrics.HELD.set(paused.held)
        stats: dict[str, Any] = {
            "pending": 0,  # cold tier: schedules waiting in ClickHouse
            "redis_pending": counts["pending"],
            "in_flight": counts["in_flight"],
            "running": running,
            "paused": paused.to_dict(),
        }
        if self.cold is not None:
            try:
                cold = await self.cold.count_by_status([Status.PENDING, Status.PROCESSING])
            except ServiceUnavailable as exc:
                stats["pending"] = None
                stats["cold_error"] = str(exc)
            else:
                stats["pending"] = cold["pending"]
                stats["processing"] = cold["processing"]
                metrics.COLD_PENDING.set(cold["pending"])
        if self.journal is not None:
            stats["journal_buffered"] = self.journal.pending()
        if self.executor is not None:
            stats["circuit_breaker"] = self.executor.breaker.state.name.lower()
        if self.consumer is not None:
            t = self.consumer.totals
            stats["ingest"] = {
                "stored": t.stored,
                "duplicates": t.duplicates,
                "dead_lettered": t.dead_lettered,
            }
        return stats
