"""The product as deployed: role processes started by the console script, measured from
outside (bench/roles.py starts them, bench/topic.py reads what they fired).

  lateness_500, lateness_2000, lateness_5000
      events due at a steady rate for 20 s (3 s with --quick), fired by ONE
      `hybrid-scheduler serve --role executor` process; lateness = Kafka record timestamp
      on the target topic minus the due time.
  burst, burst_1m
      100,000 (1,000,000) events due in the same millisecond, drained by one executor
      process; time to drain = last record timestamp minus that instant.
  ingest, ingest_2proc
      envelopes on the delayed topic stored in Redis by one (two) `serve --role consumer`
      processes; events/s from the first stored event to the last.
  ingest_journal
      the same with the cold tier on, as deployed without CLICKHOUSE_URL: the consumer
      runs the embedded ClickHouse at a data path of its own and commits an offset only
      once its events are in Redis AND journaled there; events/s from the first committed
      offset to the last (the consumer group's committed offsets, polled from the broker),
      the journal's rows counted at the end through the process's SQL endpoint.

Events are stored before they are due, through the Python API's batch path, from this
process (bench/client.py); the due times start only once every event is stored, so during
the firing only the executor, Redis and the broker run. The target topic is read after
the firing is over. The executor's garbage collections are recorded by bench/gc_hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.client import batch_rate, load_due, python_api
from bench.common import Scenario, fill_delayed_topic, run_name, slow_calls, slow_calls_reset
from bench.journaled import (
    CommittedOffsets,
    journal_env,
    journal_rows,
    main_thread_cpu_seconds,
)
from bench.roles import RoleProcess, cores_busy, cpu_snapshot, serve, wait_ready
from bench.topic import Fired, broker_round_trip_ms, read_fired
from scheduler.hot import client
from scheduler.hot.keys import Keys, shard_keys
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings

KEYS = Keys()  # the default prefix: the role processes run with default settings
PARTITIONS = 4  # of every topic the bench creates
# The due times start this long after the last event is stored, at the least.
START_MARGIN = 1.0
LATE_MS = 10  # events at least this late are lined up against GC pauses


def _command(name: str, quick: bool) -> str:
    return f"{Path(sys.executable).name} -m bench --only {name}" + (" --quick" if quick else "")


async def _sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.time()))


async def _wait_fired(redis: Redis, shards: int, up_to: float, timeout: float) -> float:
    """Until no event due up to `up_to` (Unix s) is pending or in flight; when that was seen.
    Polls Redis ten times a second (two O(log n) calls per shard), only once the last event
    is due."""
    deadline = time.time() + timeout
    while True:
        pending = inflight = 0
        for k in shard_keys(KEYS.prefix, shards):
            pending += await redis.zcount(k.scheduled, "-inf", up_to)
            inflight += await redis.zcard(k.inflight)
        if pending == 0 and inflight == 0:
            return time.time()
        if time.time() > deadline:
            raise TimeoutError(f"{pending} pending and {inflight} in flight after {timeout}s")
        await asyncio.sleep(0.1)


def _gc_report(executor: Any, start: float, end: float, fired: Fired) -> dict[str, Any]:
    """The executor's collections during [start, end], and how many late events had one
    between their due time and their firing."""
    data = executor.gc_pauses()
    if data is None:
        return {"recorded": False}
    pauses = [(g, s, d) for g, s, d in data["pauses"] if start <= s <= end]
    full = [d for g, _, d in pauses if g == 2]
    late = [
        (d / 1000, t / 1000 + 0.001)
        for t, d in zip(fired.timestamps_ms, fired.due_ms, strict=True)
        if t - d >= LATE_MS
    ]
    # A pause explains a late event if it overlaps [due, fired]: the loop was stopped then.
    spans = sorted((s, s + d) for _, s, d in pauses)
    explained = 0
    for due, at in late:
        if any(s < at and e > due for s, e in spans):
            explained += 1
    return {
        "recorded": True,
        "how": "gc.callbacks in the executor's process (bench/gc_hook/sitecustomize.py)",
        "full_collections": len(full),
        "full_collection_ms": {
            "max": round(max(full, default=0.0) * 1000, 1),
            "total": round(sum(full) * 1000, 1),
        },
        "pauses_of_1ms_or_more": sum(1 for _, _, d in pauses if d >= 0.001),
        "longest_pause_ms": round(max((d for _, _, d in pauses), default=0.0) * 1000, 1),
        "process_lifetime": {
            "collections_per_generation": data["counts"],
            "seconds_per_generation": [round(x, 3) for x in data["total_seconds"]],
            "longest_ms_per_generation": [round(x * 1000, 1) for x in data["longest_seconds"]],
        },
        f"events_late_{LATE_MS}ms_or_more": len(late),
        "of_which_a_gc_pause_overlapped": explained,
    }


async def _fire(
    settings: Settings,
    name: str,
    quick: bool,
    topic: str,
    due_ms: list[int],
    *,
    margin: float,
    executor_in: StartExecutor | None = None,
) -> tuple[dict[str, Any], Fired, int]:
    """Start an executor, store one event per due time (shifted so the first is due
    `margin` s after the last is stored), let it fire them, stop it, read the topic.
    Returns the report, the records and the first due time (ms).

    `executor_in(settings, tmp)`: where the executor runs (default: its own process, by
    the console script, with its garbage collections recorded)."""
    start_executor = executor_in or _executor_process
    await ensure_topics(settings, [topic, f"{topic}.probe"], partitions=PARTITIONS)
    round_trip = await broker_round_trip_ms(settings, f"{topic}.probe")
    redis = client.connect(settings)  # one Redis, or the cluster (bench/sharded.py)
    with tempfile.TemporaryDirectory(prefix="bench-deployed-") as tmp:
        async with python_api(settings) as service:
            async with start_executor(settings, Path(tmp)) as executor:
                rate = await batch_rate(service, "bench.calibration")
                load_seconds = len(due_ms) / rate
                first = int((time.time() + margin + 1.5 * load_seconds + START_MARGIN) * 1000)
                shift = first - due_ms[0]
                due_ms = [d + shift for d in due_ms]
                t0 = time.time()
                added = await load_due(service, topic, due_ms)
                loaded = time.time()
                await slow_calls_reset(redis)
                load_avg = os.getloadavg()
                await _sleep_until(first / 1000)
                cpu0, wall0 = executor.cpu_seconds(), time.time()
                all0 = cpu_snapshot(executor=executor.pid)  # in process: "bench"
                await _wait_fired(redis, settings.redis_shards, due_ms[-1] / 1000, timeout=300)
                cpu1, wall1 = executor.cpu_seconds(), time.time()
                all1 = cpu_snapshot(executor=executor.pid)
                slow = await slow_calls(redis)
            # The executor has stopped: nothing competes with the reader now.
            fired = await read_fired(settings.kafka_bootstrap_servers, topic)
            gc = _gc_report(executor, first / 1000, wall1, fired)
    await redis.aclose()
    report: dict[str, Any] = {
        "kind": "deployed",
        "command": _command(name, quick),
        "processes": [executor.command],
        "fired_by": "one `hybrid-scheduler serve --role executor` process",
        "scheduled_through": "Python API batch path (prepare + store_events, 1,000 per call)"
        ", all stored before the first is due",
        "measured": "Kafka record timestamp (CreateTime, ms) on the target topic minus the "
        "due time (ms, header bench-due-ms), read after the firing",
        "events": len(due_ms),
        "stored": added,
        "load_seconds": round(loaded - t0, 2),
        "stored_before_first_due": loaded < first / 1000,
        "seconds_from_stored_to_first_due": round(first / 1000 - loaded, 2),
        **fired.summary(),
        "executor_cpu_seconds": round(cpu1 - cpu0, 2),
        "executor_cpu_cores_busy": round((cpu1 - cpu0) / max(wall1 - wall0, 1e-9), 2),
        "cpu_cores_busy_while_firing": cores_busy(all0, all1, wall1 - wall0),
        "executor_exit_code": executor.exit_code,
        "broker_produce_round_trip_ms_before_load": round_trip,
        "gc": gc,
        **slow,
        "load_average_before_firing": [round(x, 2) for x in load_avg],
    }
    return report, fired, first


# (settings, tmp dir) -> a block running an executor; what it yields has `command`,
# `cpu_seconds()`, `gc_pauses()` and, after the block, `exit_code` (as RoleProcess has).
StartExecutor = Callable[[Settings, Path], contextlib.AbstractAsyncContextManager[Any]]


def _executor_process(
    settings: Settings, tmp: Path
) -> contextlib.AbstractAsyncContextManager[RoleProcess]:
    return serve("executor", settings, tmp, gc_log=True)


def _met(pct: dict[str, float], target: dict[str, float]) -> bool:
    return all(pct.get(k, float("inf")) <= v for k, v in target.items())


def lateness_scenario(
    rate: int,
    target: dict[str, float],
    *,
    name: str | None = None,
    executor_in: StartExecutor | None = None,
    about: dict[str, Any] | None = None,
) -> Scenario:
    """Events due at `rate` per second for 20 s (3 s with --quick). `executor_in` and
    `about` (fields that replace the report's) are for the in-process variant."""
    name = name or f"lateness_{rate}"

    async def run(settings: Settings, quick: bool) -> dict[str, Any]:
        seconds = 3 if quick else 20
        n = rate * seconds
        due_ms = [i * 1000 // rate for i in range(n)]  # steady, whole milliseconds
        report, fired, _ = await _fire(
            settings,
            name,
            quick,
            f"bench.{run_name(name)}",
            due_ms,
            margin=1.0,
            executor_in=executor_in,
        )
        report.update(about or {})
        span = (max(fired.timestamps_ms, default=0) - min(fired.timestamps_ms, default=0)) / 1000
        ok = report["fired"] == n and report["early"] == 0 and report["duplicates"] == 0
        return {
            "rate": rate,
            "seconds": seconds,
            **report,
            "fired_per_second": round(report["fired"] / span) if span > 0 else None,
            "max_lateness_ms_per_second_of_run": fired.worst_per_second(),
            "target_lateness_ms": target,
            "met": ok and _met(report["lateness_ms"], target),
        }

    return run


def burst_scenario(name: str, n: int, quick_n: int, target_seconds: float) -> Scenario:
    async def run(settings: Settings, quick: bool) -> dict[str, Any]:
        count = quick_n if quick else n
        report, fired, first = await _fire(
            settings, name, quick, f"bench.{run_name(name)}", [0] * count, margin=1.0
        )
        last = max(fired.timestamps_ms, default=first)
        drain = (last - first) / 1000
        # Every event of a burst waits for the ones before it: lining up its lateness with
        # pauses says nothing; the pauses' count and length do.
        report["gc"].pop(f"events_late_{LATE_MS}ms_or_more", None)
        report["gc"].pop("of_which_a_gc_pause_overlapped", None)
        ok = report["fired"] == count and report["early"] == 0 and report["duplicates"] == 0
        return {
            **report,
            "due": "every event in the same millisecond",
            "seconds_to_drain": drain,
            "first_fired_after_ms": min(fired.timestamps_ms, default=first) - first,
            "events_per_second": round(count / drain) if drain > 0 else None,
            "target_seconds": target_seconds,
            "met": ok and drain <= target_seconds and report["redis_calls_over_50ms"] == 0,
        }

    return run


async def _rate_until_stored(
    redis: Redis, n: int, timeout: float
) -> tuple[float | None, float, float, int]:
    """(events/s, first seen, all stored, stored before the first poll) from the first
    stored event (or this call) until n are in Redis: the consumer group's first join is
    not counted. Polls ZCARD every 10 ms."""
    deadline = time.time() + timeout
    first = 0.0
    first_count = int(await redis.zcard(KEYS.scheduled))
    if first_count:
        first = time.time()
    before = first_count
    while (count := await redis.zcard(KEYS.scheduled)) < n:
        if time.time() > deadline:
            raise TimeoutError(f"only {count} of {n} events stored in {timeout}s")
        if not first and count:
            first, first_count = time.time(), count
        await asyncio.sleep(0.01)
    done = time.time()
    if not first or done <= first:  # all stored before or between two polls
        return None, done, done, before
    return (n - first_count) / (done - first), first, done, before


async def _rate_until_committed(
    redis: Redis, offsets: CommittedOffsets, n: int, timeout: float
) -> tuple[float | None, float, float, int]:
    """As _rate_until_stored, but until all n offsets are committed (the consumer group's
    committed offsets, polled every 10 ms as ZCARD is, until the first event is stored,
    then every 50 ms: each poll is a round trip to the group coordinator per partition)."""
    deadline = time.time() + timeout
    first = 0.0
    first_count = before = int(await redis.zcard(KEYS.scheduled))
    if first_count:
        first = time.time()
    while not first:
        if time.time() > deadline:
            raise TimeoutError(f"nothing stored in {timeout}s")
        await asyncio.sleep(0.01)
        if count := int(await redis.zcard(KEYS.scheduled)):
            first, first_count = time.time(), count
    while (committed := await offsets.total()) < n:
        if time.time() > deadline:
            raise TimeoutError(f"only {committed} of {n} offsets committed in {timeout}s")
        await asyncio.sleep(0.05)
    done = time.time()
    if done <= first:
        return None, done, done, before
    return (n - first_count) / (done - first), first, done, before


def ingest_scenario(name: str, processes: int, target: int, *, journal: bool = False) -> Scenario:
    """`journal`: the cold tier on (embedded ClickHouse); counted are committed offsets,
    which the consumer commits only once their events are stored and journaled."""

    async def run(settings: Settings, quick: bool) -> dict[str, Any]:
        n = 20_000 if quick else 200_000
        run = run_name(name)
        topic = f"bench.{run}.delayed"
        group = f"bench-{run}"
        env = {"KAFKA_DELAYED_TOPIC_NAME": topic, "KAFKA_CONSUMER_GROUP": group}
        redis = Redis.from_url(settings.redis_url)
        fill_t = time.perf_counter()
        await fill_delayed_topic(settings, topic, n, delay_seconds=3000)
        fill_seconds = time.perf_counter() - fill_t
        await slow_calls_reset(redis)
        load_avg = os.getloadavg()
        offsets = CommittedOffsets(settings.kafka_bootstrap_servers, group, topic)
        await offsets.start()
        extra: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            if journal:
                env.update(journal_env(Path(tmp)))
            async with contextlib.AsyncExitStack() as stack:
                # Started together; measured once all run (a later one's join then
                # rebalances the group inside the measurement, as in production).
                procs = [
                    await stack.enter_async_context(
                        serve(
                            "consumer",
                            settings,
                            Path(tmp),
                            extra_env=env,
                            ready=False,
                            gc_log=journal,
                        )
                    )
                    for _ in range(processes)
                ]
                await asyncio.gather(*(wait_ready(p, 90) for p in procs))
                pids = {f"consumer{i}": p.pid for i, p in enumerate(procs)}
                cpu0, t0 = cpu_snapshot(**pids), time.time()
                main0 = main_thread_cpu_seconds(procs[0].pid)
                if journal:
                    try:
                        rate, first, done, before = await _rate_until_committed(
                            redis, offsets, n, timeout=300
                        )
                    except TimeoutError as exc:
                        raise TimeoutError(f"{exc}:\n{procs[0].log_tail()}") from None
                else:
                    rate, first, done, before = await _rate_until_stored(redis, n, timeout=300)
                cpu1, t1 = cpu_snapshot(**pids), time.time()
                main1 = main_thread_cpu_seconds(procs[0].pid)
                in_redis = int(await redis.zcard(KEYS.scheduled))
                if journal:
                    extra["journal_rows"] = await journal_rows(env)
            slow = await slow_calls(redis)
            if journal:  # the process has stopped: its collections are written
                data = procs[0].gc_pauses()
                extra["consumer_gc"] = (
                    {
                        "how": "gc.callbacks in the consumer's process (bench/gc_hook)",
                        "collections_per_generation": data["counts"],
                        "seconds_per_generation": [round(x, 3) for x in data["total_seconds"]],
                        "longest_ms": round(max(data["longest_seconds"]) * 1000, 1),
                    }
                    if data is not None
                    else {"recorded": False}
                )
        await offsets.stop()
        await redis.aclose()
        counted = (
            "from the first event stored in Redis (ZCARD of scheduled_events, polled every "
            "10 ms) until every offset is committed (the consumer group's committed offsets, "
            "polled every 50 ms): an offset is committed once its event is in Redis and its "
            "journal row in ClickHouse"
            if journal
            else "ZCARD of scheduled_events, polled every 10 ms"
        )
        cpu = sum(cpu1[k] - cpu0[k] for k in pids)
        ok = rate is not None and rate >= target and in_redis == n
        if journal:
            ok = ok and extra["journal_rows"].get("transferred/hot") == n
        return {
            "kind": "deployed",
            "command": _command(name, quick),
            "processes": [p.command for p in procs],
            "consumer_processes": processes,
            "cold_tier": "embedded ClickHouse (chdb) in the consumer process" if journal else "off",
            "envelopes": f"{n} valid envelopes (400-byte bodies, delay_seconds 3000, keyed "
            "by schedule_id as publish_with_delay writes them) on a 4-partition topic, "
            "all produced before the consumer starts",
            "counted": counted,
            "fill_seconds": round(fill_seconds, 2),
            "events": n,
            "stored_before_all_processes_ran": before,
            "seconds_first_to_last_stored": round(done - first, 2),
            "events_per_second": round(rate) if rate is not None else None,
            "in_redis_at_end": in_redis,
            **extra,
            "consumer_cpu_seconds": round(cpu, 2),
            "consumer_cpu_us_per_event": round(cpu / n * 1e6, 1),
            "consumer_main_thread_cpu_us_per_event": round((main1 - main0) / n * 1e6, 1)
            if processes == 1
            else None,
            "redis_cpu_us_per_event": round((cpu1["redis"] - cpu0["redis"]) / n * 1e6, 1)
            if "redis" in cpu0 and "redis" in cpu1
            else None,
            "cpu_cores_busy_while_ingesting": cores_busy(cpu0, cpu1, t1 - t0),
            "consumer_exit_codes": [p.exit_code for p in procs],
            "target_events_per_second": target,
            "met": ok,
            **slow,
            "load_average_before": [round(x, 2) for x in load_avg],
        }

    return run


DEPLOYED_SCENARIOS: dict[str, Scenario] = {
    "lateness_500": lateness_scenario(500, {"p50": 2, "p99": 5, "p99.9": 10, "max": 50}),
    "lateness_2000": lateness_scenario(2000, {"p50": 3, "p99": 8, "p99.9": 15}),
    "lateness_5000": lateness_scenario(5000, {"p50": 5, "p99": 20, "p99.9": 40}),
    "burst": burst_scenario("burst", 100_000, 10_000, 2.0),
    "ingest": ingest_scenario("ingest", 1, 50_000),
    "ingest_2proc": ingest_scenario("ingest_2proc", 2, 50_000),
    "ingest_journal": ingest_scenario("ingest_journal", 1, 40_000, journal=True),
}
# The longest run (about two minutes): in `make bench` once; its target is for five runs,
# `python -m bench --only burst_1m --repeat 5`.
LONG_SCENARIOS: dict[str, Scenario] = {
    "burst_1m": burst_scenario("burst_1m", 1_000_000, 100_000, 25.0),
}
