"""The Python API (design doc): `SchedulerService` schedules, cancels and reports, and
optionally runs the executor and the delayed-topic consumer in this process.

    service = SchedulerService(load_settings())
    await service.start()                                  # API only
    await service.start(roles=["executor", "consumer"])    # API + background roles
    sid = await service.schedule_event(topic="t", body="...", delay_seconds=30)
    await service.cancel_event(sid)
    await service.stop()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from scheduler import metrics
from scheduler.errors import ServiceUnavailable
from scheduler.hot.executor import Executor, ExecutorConfig, OutcomeHandler
from scheduler.hot.keys import Keys
from scheduler.hot.store import CancelResult, HotStore
from scheduler.ingest.consumer import DelayedEventsConsumer
from scheduler.kafka import ensure_topics, make_consumer, make_producer
from scheduler.models import Limits, ScheduleRequest, parse_request, to_event
from scheduler.router import Router
from scheduler.settings import Settings

log = logging.getLogger(__name__)

ROLES = ("executor", "consumer")


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_body_bytes=settings.max_body_bytes,
        max_headers=settings.max_headers,
        max_header_bytes=settings.max_header_bytes,
        default_max_delay_seconds=settings.default_max_delay_seconds,
    )


class SchedulerService:
    def __init__(self, settings: Settings, *, on_outcomes: OutcomeHandler | None = None) -> None:
        self.settings = settings
        self.limits = limits_from(settings)
        self.on_outcomes = on_outcomes
        self.redis: Redis | None = None
        self.hot: HotStore | None = None
        self.router: Router | None = None
        self.executor: Executor | None = None
        self.consumer: DelayedEventsConsumer | None = None
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
        self.router = Router(self.hot, s.immediate_horizon_seconds)
        if roles:
            await ensure_topics(s, [s.delayed_topic, s.dead_letter_topic])
        if "executor" in roles:
            producer = make_producer(s)
            await producer.start()
            self._closers.append(producer.stop)
            self.executor = Executor(
                self.hot, producer, ExecutorConfig.from_settings(s), on_outcomes=self.on_outcomes
            )
            self._tasks["executor"] = asyncio.create_task(self.executor.run(), name="executor")
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
        log.info("scheduler started (roles: %s)", ", ".join(roles) or "api only")

    async def stop(self) -> None:
        for role in (self.consumer, self.executor):
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
        _, router = self._require()
        now = time.time()
        ev = to_event(req, self.limits, now)
        (stored,) = await router.store([ev], now)
        if stored.added:
            metrics.EVENTS_SCHEDULED.labels(source, stored.tier.value).inc()
        return ev.schedule_id, stored.added

    async def cancel_event(self, schedule_id: str) -> CancelResult:
        """Cancel by id. The result is truthy if something was cancelled and says whether
        it was pending or in flight (then it may already have been published)."""
        hot, _ = self._require()
        return await hot.cancel(schedule_id)

    async def get_stats(self) -> dict[str, Any]:
        hot, _ = self._require()
        counts = await hot.counts()
        running = {name: not t.done() for name, t in self._tasks.items()}
        stats: dict[str, Any] = {
            "pending": 0,  # cold tier (ClickHouse): none configured yet
            "redis_pending": counts["pending"],
            "in_flight": counts["in_flight"],
            "running": running,
        }
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
