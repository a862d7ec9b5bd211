"""A per-topic rate limit as deployed: two `hybrid-scheduler serve --role executor`
processes started with SCHEDULES_TOPIC_RATE_LIMITS=<limited topic>=20000 (the limit is one
token bucket in Redis, shared by both), measured from outside. Two, because one executor
process drains an unlimited burst at about 20,000/s on the 2-core machine (README,
"Measured"): with one, the executor rather than the limit would set the pace.

  rate_limit_1m
      1,000,000 events to the limited topic and 100,000 to another topic, all due in the
      same millisecond, stored (interleaved, 10 limited to 1 other) while everything is
      paused, and released at once (resumed) when due, or once stored if that took longer.
      The limited topic must drain at 20,000/s +- 5 % (events after the first second's
      burst over the seconds they took, and the median of the whole seconds in between,
      from the Kafka record timestamps); the other topic must not wait for it (all of it
      fired before the limited topic is half through: its events are not queued behind
      the limited ones). Nothing early, nothing lost, nothing twice.
      --quick: 50,000 and 5,000, the topic limited to 5,000/s (a smoke run that still
      throttles on a busy machine, where one executor may not reach 20,000/s at all).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.client import BATCH, python_api
from bench.common import (
    Scenario,
    make_event,
    percentiles,
    run_name,
    slow_calls,
    slow_calls_reset,
)
from bench.roles import cores_busy, cpu_snapshot, serve
from bench.topic import DUE_HEADER, Fired, read_fired
from scheduler.hot.keys import Keys
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings

KEYS = Keys()  # the role process runs with the default prefix
TOLERANCE = 0.05
CHUNK = 10_000  # limited events stored per other-topic chunk of CHUNK // 10


async def _left(redis: Redis, topic: str, due: float) -> int:
    """Events due by `due` (Unix s) still in Redis: pending, in flight, or waiting for the
    topic's limit."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcount(KEYS.scheduled, "-inf", due)
        pipe.zcard(KEYS.inflight)
        pipe.zcard(KEYS.throttled_prefix + topic)
        counts = await pipe.execute()
    return sum(int(c) for c in counts)


async def _store(service: SchedulerService, topic: str, due_ms: int, n: int) -> int:
    """n events to `topic` due at `due_ms`, built here (the bench's event, its due time in
    the `bench-due-ms` header) and stored by SchedulerService.store_events, BATCH a call:
    the batch path without the per-item validation, which would take minutes for
    1,100,000 on a busy machine."""
    at = due_ms / 1000
    added = 0
    for start in range(0, n, BATCH):
        events = []
        for _ in range(min(BATCH, n - start)):
            ev = make_event(topic, at)
            events.append(replace(ev, headers={**ev.headers, DUE_HEADER: str(due_ms)}))
        stored = await service.store_events(events, time.time(), source="python")
        added += sum(1 for x in stored if x.added)
    return added


def _per_second(fired: Fired) -> list[int]:
    """Records per whole second of the drain, from the first record."""
    if not fired.timestamps_ms:
        return []
    start = min(fired.timestamps_ms)
    counts: dict[int, int] = {}
    for t in fired.timestamps_ms:
        counts[(t - start) // 1000] = counts.get((t - start) // 1000, 0) + 1
    return [counts.get(s, 0) for s in range(max(counts) + 1)]


def _lateness_s(fired: Fired) -> dict[str, float]:
    late = [float(x) / 1000 for x in fired.lateness_ms()]
    return {k: round(v, 3) for k, v in percentiles(late, (50, 99)).items()}


def rate_limit_scenario(name: str, n: int, rate: int, quick_n: int, quick_rate: int) -> Scenario:
    async def run(settings: Settings, quick: bool) -> dict[str, Any]:
        count, limit = (quick_n, quick_rate) if quick else (n, rate)
        others = count // 10
        run = run_name(name)
        limited, other = f"bench.{run}", f"bench.{run}.other"
        env = {"SCHEDULES_TOPIC_RATE_LIMITS": f"{limited}={limit}"}
        await ensure_topics(settings, [limited, other], partitions=4)
        redis = Redis.from_url(settings.redis_url)
        with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as tmp:
            async with (
                python_api(settings) as service,
                serve("executor", settings, Path(tmp), extra_env=env) as executor,
                serve("executor", settings, Path(tmp), extra_env=env) as executor2,
            ):
                # Everything is paused while the events are stored (the product's own
                # pause: claims take nothing), so that however long storing takes on a
                # busy machine, nothing fires before the instant they are all due and
                # released: `start` = max(due, resumed).
                await service.pause("all", reason="bench: storing")
                due = int((time.time() + 2.0) * 1000)
                t0 = time.time()
                stored = 0
                for at in range(0, count, CHUNK):
                    size = min(CHUNK, count - at)
                    stored += await _store(service, limited, due, size)
                    stored += await _store(service, other, due, size // 10)
                loaded = time.time()
                await slow_calls_reset(redis)
                load_avg = os.getloadavg()
                await asyncio.sleep(max(0.0, due / 1000 - time.time()))
                await service.resume("all")
                start = max(due, int(time.time() * 1000))
                pids = {"executor": executor.pid, "executor2": executor2.pid}
                cpu0, wall0 = cpu_snapshot(**pids), time.time()
                deadline = wall0 + 3 * count / limit + 120
                while (left := await _left(redis, limited, due / 1000)) and time.time() < deadline:
                    await asyncio.sleep(0.2)
                cpu1, wall1 = cpu_snapshot(**pids), time.time()
                slow = await slow_calls(redis)
            fired = await read_fired(settings.kafka_bootstrap_servers, limited)
            fired_other = await read_fired(settings.kafka_bootstrap_servers, other)
        await redis.aclose()

        first = min(fired.timestamps_ms, default=start)
        last = max(fired.timestamps_ms, default=start)
        drain = (last - first) / 1000
        # The bucket starts full: one second's worth may fire at once, the rest at the limit.
        after_burst = (len(fired) - limit) / drain if drain > 0 else None
        seconds = _per_second(fired)
        middle = seconds[1:-1]  # whole seconds after the burst's, before the last partial one
        median = statistics.median(middle) if middle else None
        other_last = max(fired_other.timestamps_ms, default=start)
        ok = (
            len(fired) == count
            and len(fired_other) == others
            and fired.duplicates == 0
            and fired_other.duplicates == 0
            and fired.summary()["early"] == 0
            and fired_other.summary()["early"] == 0
        )
        within = (
            after_burst is not None
            and median is not None
            and abs(after_burst / limit - 1) <= TOLERANCE
            and abs(median / limit - 1) <= TOLERANCE
        )
        # Not starved: the other topic is through while the limited one has half to go.
        not_starved = other_last - start <= (last - start) / 2
        return {
            "kind": "deployed",
            "command": f"{Path(sys.executable).name} -m bench --only {name}"
            + (" --quick" if quick else ""),
            "processes": [executor.command, executor2.command],
            "limit": f"{limited}={limit} (SCHEDULES_TOPIC_RATE_LIMITS; burst: one second's worth)",
            "due": "every event of both topics in the same millisecond",
            "scheduled_through": "SchedulerService.store_events, 1,000 a call, 10 limited to "
            "1 other, while everything is paused (hybrid-scheduler pause --all); resumed "
            "at the due instant, or once all are stored if that took longer",
            "events": {"limited": count, "other": others},
            "stored": stored,
            "load_seconds": round(loaded - t0, 2),
            "stored_before_due": loaded < due / 1000,
            "released_ms_after_due": start - due,
            "left_in_redis_at_end": left,
            "limited": {
                "fired": len(fired),
                "early": fired.summary()["early"],
                "duplicates": fired.duplicates,
                "first_fired_after_ms": first - start,
                "seconds_to_drain": drain,
                "events_per_second_after_the_burst": round(after_burst) if after_burst else None,
                "events_per_second_overall": round(len(fired) / drain) if drain > 0 else None,
                "per_whole_second": {
                    "first": seconds[0] if seconds else None,
                    "median_of_the_rest": median,
                    "min": min(middle, default=None),
                    "max": max(middle, default=None),
                    "seconds": len(middle),
                },
                "lateness_seconds": _lateness_s(fired),
            },
            "other": {
                "fired": len(fired_other),
                "early": fired_other.summary()["early"],
                "duplicates": fired_other.duplicates,
                "lateness_seconds": _lateness_s(fired_other),
                "all_fired_after_seconds": round((other_last - start) / 1000, 3),
            },
            "seconds_from_release_to_drained": round(wall1 - start / 1000, 2),
            "cpu_cores_busy_while_firing": cores_busy(cpu0, cpu1, wall1 - wall0),
            "executor_exit_codes": [executor.exit_code, executor2.exit_code],
            **slow,
            "load_average_before_firing": [round(x, 2) for x in load_avg],
            "target": f"{limit}/s +- {TOLERANCE:.0%} after the burst (overall and median "
            "second); the other topic all fired within half the limited drain",
            "met": ok and within and not_starved,
        }

    return run


RATE_LIMIT_SCENARIOS: dict[str, Scenario] = {
    "rate_limit_1m": rate_limit_scenario("rate_limit_1m", 1_000_000, 20_000, 50_000, 5_000),
}
