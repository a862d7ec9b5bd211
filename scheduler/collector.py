"""The queue gauges read from the stores when Prometheus scrapes (scheduler.metrics'
ScrapedGauge): pending, in flight, held and pauses from Redis, and the schedules pending
in ClickHouse with the cold tier.

    gauges = StoreGauges(settings, Keys(prefix), cold)   # Runtime.start does this
    activate(gauges)      # prometheus_client's REGISTRY now yields them on every scrape
    deactivate(gauges)    # Runtime.stop: gone again
    gauges.close()

Only a process with a Redis connection (a started Runtime) has them; they are read on
each scrape and by nothing else (GET .../monitoring/stats reads its own).

How the reads are done. prometheus_client calls collect() in the thread serving the
scrape (the metrics endpoint's, or a worker thread for the API's .../monitoring/metrics),
so the reads must be synchronous and bounded. They do not go through the event loop
(`run_coroutine_threadsafe` onto the role's loop): a loop busy firing a backlog, which is
when queue depth matters most, would delay or time out the scrape; a read cancelled at
its timeout would leave an asyncio Redis connection mid-command; and a scrape on the loop
thread itself would wait for itself. Instead:

- Redis through a small synchronous client of its own (2 connections at most, socket
  and connect timeouts of READ_TIMEOUT, no retries), independent of the loop and of the
  roles' connection pool;
- ClickHouse through the product's client pool, whose clients are synchronous anyway
  (ClickHouse.query_rows_blocking), the query stopped by ClickHouse after a second.

Each read runs in a daemon thread of its own, and the scrape waits at most READ_TIMEOUT
for it (both stores at once); a read still running (a store that hangs) is waited for by
the next scrape instead of starting another, so reads never pile up. A store that does
not answer in time is left out of that scrape: its gauges have no sample, the other
metrics are served, and one warning is logged per outage (and one line when it answers
again).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.backoff import NoBackoff
from redis.retry import Retry

from scheduler import metrics
from scheduler.cold.records import Status
from scheduler.hot import client
from scheduler.hot.keys import Keys, shard_keys
from scheduler.hot.pause import parse_pauses
from scheduler.settings import Settings

if TYPE_CHECKING:
    from scheduler.cold.store import ColdStore

log = logging.getLogger(__name__)

READ_TIMEOUT = 1.0  # seconds a scrape waits for the stores (each read, both at once)

HOT_GAUGES = (
    metrics.REDIS_PENDING,
    metrics.IN_FLIGHT,
    metrics.HELD,
    metrics.PAUSES,
    metrics.THROTTLED,
)
GAUGES = (*HOT_GAUGES, metrics.COLD_PENDING)

T = TypeVar("T")


class StoreGauges(Collector):
    """A prometheus_client collector of the scraped gauges of one deployment (a Redis
    key prefix; a ClickHouse database with `cold`)."""

    def __init__(
        self,
        settings: Settings,
        keys: Keys,
        cold: ColdStore | None = None,
        *,
        timeout: float = READ_TIMEOUT,
    ) -> None:
        self.keys = keys
        self.shards = shard_keys(keys.prefix, settings.redis_shards)
        self.keys = self.shards[0]
        self.cold = cold
        self.timeout = timeout
        # REDIS_URL, or the primary that the Sentinels name (scheduler.hot.client).
        self._redis = client.connect_blocking(
            settings,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            max_connections=2,
        )
        self._lock = threading.Lock()
        self._reads: dict[str, Future[object]] = {}
        self._failing: set[str] = set()
        self._closed = False

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The names, for the registry's duplicate check (no store is read)."""
        gauges = GAUGES if self.cold is not None else HOT_GAUGES
        return iter([GaugeMetricFamily(g.name, g.documentation) for g in gauges])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        hot = self._start("redis", self._read_redis)
        cold = self._start("clickhouse", self._read_cold) if self.cold is not None else None
        deadline = time.monotonic() + self.timeout
        counts = self._result("Redis", hot, deadline)
        if counts is not None:
            for gauge, value in zip(HOT_GAUGES, counts, strict=True):
                yield GaugeMetricFamily(gauge.name, gauge.documentation, value=value)
        if cold is not None:
            pending = self._result("ClickHouse", cold, deadline)
            if pending is not None:
                gauge = metrics.COLD_PENDING
                yield GaugeMetricFamily(gauge.name, gauge.documentation, value=pending)

    def close(self) -> None:
        """Reads still running end at their own timeouts; later scrapes read nothing."""
        self._closed = True
        self._redis.close()

    # --- the reads, each in a thread of its own -------------------------------------

    def _read_redis(self) -> tuple[int, int, int, int, int]:
        """(pending, in flight, held, pauses, throttled), counted as HotStore.counts,
        HotStore.throttled and PauseControl.state count them for the stats: pending
        includes held and throttled events."""
        k = self.keys
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.paused)  # shard 0's copy speaks for all (written to every shard)
            for shard in self.shards:
                pipe.zcard(shard.scheduled)
                pipe.zcard(shard.held)
                pipe.zcard(shard.inflight)
                pipe.zrange(shard.throttled_topics, 0, -1)
            paused, *replies = pipe.execute()
        scheduled = sum(int(n) for n in replies[0::4])
        held = sum(int(n) for n in replies[1::4])
        in_flight = sum(int(n) for n in replies[2::4])
        throttled = 0
        if any(replies[3::4]):
            with self._redis.pipeline(transaction=False) as pipe:
                for shard, topics in zip(self.shards, replies[3::4], strict=True):
                    for topic in topics:
                        pipe.zcard(shard.throttled_prefix + topic.decode())
                throttled = sum(int(n) for n in pipe.execute())
        pauses = len(parse_pauses(paused, k.paused))
        pending = scheduled + held + throttled
        return pending, in_flight, held, pauses, throttled

    def _read_cold(self) -> int:
        assert self.cold is not None
        seconds = max(1, math.ceil(self.timeout))
        counts = self.cold.count_by_status_blocking([Status.PENDING], max_seconds=seconds)
        return counts[Status.PENDING.value]

    def _start(self, store: str, read: Callable[[], T]) -> Future[T] | None:
        """The store's read: the one still running, else a new one."""
        if self._closed:
            return None
        with self._lock:
            running = self._reads.get(store)
            if running is not None and not running.done():
                return running  # type: ignore[return-value]
            future: Future[T] = Future()
            self._reads[store] = future  # type: ignore[assignment]

        def run() -> None:
            future.set_running_or_notify_cancel()
            try:
                future.set_result(read())
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, name=f"scrape-{store}", daemon=True).start()
        return future

    def _result(self, store: str, future: Future[T] | None, deadline: float) -> T | None:
        if future is None:
            return None
        try:
            value = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            self._failed(store, f"no answer within {self.timeout:g} s")
            return None
        except Exception as exc:
            self._failed(store, f"{type(exc).__name__}: {exc}")
            return None
        with self._lock:
            recovered = store in self._failing
            self._failing.discard(store)
        if recovered:
            log.info("metrics: %s answers again; its queue gauges are back", store)
        return value

    def _failed(self, store: str, why: str) -> None:
        with self._lock:
            first = store not in self._failing
            self._failing.add(store)
        if first:
            log.warning(
                "metrics: reading %s for the queue gauges failed (%s); they are left out "
                "of scrapes until it answers",
                store,
                why,
            )


class _Active(Collector):
    """What REGISTRY holds while some StoreGauges is active: the last activated one's
    gauges (a process runs one Runtime; tests may start several, one after another)."""

    def __init__(self) -> None:
        self.stack: list[StoreGauges] = []

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter([GaugeMetricFamily(g.name, g.documentation) for g in GAUGES])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        current = self.stack[-1] if self.stack else None
        if current is not None:
            yield from current.collect()


_ACTIVE = _Active()
_ACTIVE_LOCK = threading.Lock()


def activate(gauges: StoreGauges) -> None:
    """Serve `gauges` on every scrape of prometheus_client's REGISTRY (registered there
    while any is active)."""
    with _ACTIVE_LOCK:
        if not _ACTIVE.stack:
            REGISTRY.register(_ACTIVE)
        _ACTIVE.stack.append(gauges)


def deactivate(gauges: StoreGauges) -> None:
    """No longer serve `gauges`; with none left, REGISTRY has no scraped gauges."""
    with _ACTIVE_LOCK:
        if gauges not in _ACTIVE.stack:
            return
        _ACTIVE.stack.remove(gauges)
        if not _ACTIVE.stack:
            REGISTRY.unregister(_ACTIVE)
