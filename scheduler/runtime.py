"""The wiring of a SchedulerService: which clients it connects, which stores it builds on
them and which background roles (scheduler.roles.ROLES) it starts in this process.

    runtime = Runtime(settings)
    await runtime.start(["executor"])   # Redis; ClickHouse with the cold tier; the roles
    ...
    await runtime.stop()                 # the roles stop, then the clients close

The cold tier (ClickHouse) is connected at start unless SCHEDULES_COLD_TIER_ENABLED is
false; start refuses a schema with pending migrations unless
SCHEDULES_CLICKHOUSE_AUTO_MIGRATE is set (as `hybrid-scheduler dev` does). Attributes are
None until start (and the cold tier's while it is disabled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from redis.asyncio import Redis

from scheduler import collector
from scheduler.cold import ClickHouse, check_migrations, connect_clickhouse, migrate
from scheduler.cold.analytics import ScheduleAnalyticsService
from scheduler.cold.journal import JournalWriter
from scheduler.cold.maintenance import Maintenance
from scheduler.cold.operations import ColdConfig, ColdOperations
from scheduler.cold.store import ColdStore
from scheduler.cold.sync import SyncConfig
from scheduler.errors import ConfigError, ServiceUnavailable
from scheduler.hot import client
from scheduler.hot.executor import Executor, ExecutorConfig
from scheduler.hot.keys import Keys
from scheduler.hot.outcome import Outcome, OutcomeHandler
from scheduler.hot.store import HotStore, Replication
from scheduler.ingest.consumer import DelayedEventsConsumer
from scheduler.kafka import ensure_topics, make_consumer, make_producer
from scheduler.models import Limits
from scheduler.recurring.loop import RecurringLoop
from scheduler.recurring.schedules import RecurringSchedules
from scheduler.recurring.store import RecurringStore
from scheduler.roles import ROLES
from scheduler.router import Router
from scheduler.settings import Settings

log = logging.getLogger(__name__)

# A liveness probe: returns when the component answers, raises when it does not.
Probe = Callable[[], Awaitable[object]]

COLD_TIER_DISABLED = "the cold tier is disabled (SCHEDULES_COLD_TIER_ENABLED=false)"
ANALYTICS_NEED_COLD_TIER = "analytics need the cold tier (SCHEDULES_COLD_TIER_ENABLED)"


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        on_outcomes: OutcomeHandler | None = None,
        clickhouse: ClickHouse | None = None,
    ) -> None:
        """`on_outcomes`: called with each batch of firing outcomes, after the journal.
        `clickhouse`: a client to use instead of connecting per settings (not closed by
        stop())."""
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.on_outcomes = on_outcomes
        self.redis: Redis | None = None
        self.hot: HotStore | None = None
        self.router: Router | None = None
        self.recurring: RecurringSchedules | None = None
        self.recurring_loop: RecurringLoop | None = None
        self.executor: Executor | None = None
        self.consumer: DelayedEventsConsumer | None = None
        self.clickhouse: ClickHouse | None = clickhouse
        self._own_clickhouse = clickhouse is None
        self.cold: ColdStore | None = None
        self.journal: JournalWriter | None = None
        self.cold_ops: ColdOperations | None = None
        self.analytics: ScheduleAnalyticsService | None = None
        self.maintenance: Maintenance | None = None
        self.gauges: collector.StoreGauges | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closers: list[Any] = []

    # --- start and stop ------------------------------------------------------------------

    async def start(self, roles: Iterable[str] = ()) -> None:
        roles = list(roles)
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; choose from {ROLES}")
        s = self.settings
        self.redis = client.connect(s)
        try:
            await self.redis.ping()
        except Exception as exc:
            await self.redis.aclose()
            raise ServiceUnavailable(f"{client.describe(s)} is unreachable: {exc}") from exc
        self.hot = HotStore(
            self.redis,
            Keys(s.redis_key_prefix),
            replication=Replication.from_settings(s),
            shards=s.redis_shards,
            compress_min_bytes=s.hot_compress_min_bytes,
        )
        try:
            await self.hot.check_shards()
        except BaseException:
            await self.redis.aclose()
            raise
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
        # Occurrences are materialised as far ahead as the sync moves cold events.
        self.recurring = RecurringSchedules(
            RecurringStore(self.hot),
            self.router,
            self.limits,
            window_seconds=SyncConfig.from_settings(s).window_seconds,
            cold=self.cold,
            journal=self.journal,
        )
        # The queue gauges, read from the stores on each scrape of this process's metrics.
        self.gauges = collector.StoreGauges(s, self.hot.keys, self.cold)
        collector.activate(self.gauges)
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
        if "recurring" in roles:
            assert self.recurring is not None
            self.recurring_loop = RecurringLoop(self.recurring, interval=s.recurring_interval)
            self._tasks["recurring"] = asyncio.create_task(
                self.recurring_loop.run(), name="recurring"
            )
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
                recurring=self.recurring,
                journal_batch_size=s.ingest_journal_batch_size,
                journal_flush_interval=s.ingest_journal_flush_interval,
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
        for role in (self.consumer, self.executor, self.maintenance, self.recurring_loop):
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
        if self.gauges is not None:
            collector.deactivate(self.gauges)
            self.gauges.close()
            self.gauges = None
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

    # --- what others may ask of it -------------------------------------------------------

    def running(self) -> dict[str, bool]:
        """Each background role of this process: alive?"""
        return {name: not t.done() for name, t in self._tasks.items()}

    def probes(self) -> dict[str, Probe]:
        """A liveness probe of each store this process holds a client of: redis, and
        clickhouse with the cold tier. Each reads the client when it runs."""

        async def redis() -> object:
            if self.redis is None:
                raise ConnectionError("not connected")
            return await self.redis.ping()

        probes: dict[str, Probe] = {"redis": redis}
        if self.settings.cold_tier_enabled and self.clickhouse is not None:
            probes["clickhouse"] = self.clickhouse.ping
        return probes

    def require_cold_ops(self) -> ColdOperations:
        """The cold tier's operations (sync, cleanup, recovery, rebuild); ConfigError when
        the cold tier is disabled."""
        if self.cold_ops is None:
            raise ConfigError(COLD_TIER_DISABLED)
        return self.cold_ops

    def require_analytics(self) -> ScheduleAnalyticsService:
        """The execution history's analytics; ConfigError when the cold tier is disabled."""
        if self.analytics is None:
            raise ConfigError(ANALYTICS_NEED_COLD_TIER)
        return self.analytics
