"""Run the hot-path benchmarks on freshly started real services and print JSON.

    python -m bench [--quick] [--only NAME ...] [--out bench/results.json]

Scenarios and their targets (on one 2-core machine):
  memory    Redis bytes per pending event with a 400-byte body        target <= 700
  ingest    events/s from the delayed Kafka topic into Redis          target >= 50,000
  lateness  broker-ack time minus scheduled_at at 5,000 events/s, 60 s target p99 <= 50 ms,
                                                                        p99.9 <= 250 ms
  burst     1,000,000 events due in one second                        target all produced
                                                                        <= 40 s, no Redis
                                                                        call > 50 ms
  http_single, http_batch  the HTTP API (bench/http.py)               target >= 2,000 requests/s,
                                                                        >= 20,000 events/s
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from bench.cold import COLD_SCENARIOS
from bench.common import BODY, Scenario, fill_delayed_topic, make_event, percentiles
from bench.http import HTTP_SCENARIOS
from devstack.services import free_port, start_kafka, start_redis
from scheduler.hot.executor import Executor, ExecutorConfig
from scheduler.hot.keys import Keys
from scheduler.hot.outcome import Outcome, OutcomeStatus
from scheduler.hot.store import SCRIPTS, HotStore, script_source
from scheduler.kafka import ensure_topics, make_producer
from scheduler.service import SchedulerService
from scheduler.settings import Settings


async def _fresh_redis(settings: Settings) -> Redis:
    redis = Redis.from_url(settings.redis_url)
    await redis.flushall()
    await redis.config_set("slowlog-log-slower-than", 50_000)  # 50 ms, in microseconds
    await redis.slowlog_reset()
    return redis


def _script_names() -> dict[str, str]:
    """sha1 -> script name, for every hot-tier Lua script."""
    return {hashlib.sha1(script_source(name).encode()).hexdigest(): name for name in SCRIPTS}


def _command_name(command: object) -> str:
    """`EVALSHA claim` (the script's name) or `HDEL` from a slowlog entry's command line."""
    text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
    parts = text.split(" ", 2)
    if parts[0].upper() == "EVALSHA" and len(parts) > 1:
        return f"EVALSHA {_script_names().get(parts[1], parts[1])}"
    return parts[0] or "?"


async def _slowlog(redis: Redis) -> dict[str, Any]:
    entries = await redis.slowlog_get(128)
    return {
        "redis_calls_over_50ms": len(entries),
        "slowest_redis_call_ms": max((e["duration"] / 1000 for e in entries), default=0.0),
        "slow_redis_calls": sorted({_command_name(e.get("command")) for e in entries}),
    }


async def bench_memory(settings: Settings, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 200_000
    redis = await _fresh_redis(settings)
    store = HotStore(redis, Keys("mem:"))
    before = (await redis.info("memory"))["used_memory"]
    now = time.time()
    for _ in range(0, n, 5000):
        await store.schedule([make_event("user.notifications", now + 3600) for _ in range(5000)])
    after = (await redis.info("memory"))["used_memory"]
    await redis.aclose()
    per_event = (after - before) / n
    return {
        "events": n,
        "body_bytes": len(BODY),
        "bytes_per_pending_event": round(per_event, 1),
        "target_bytes": 700,
        "met": per_event <= 700,
    }


async def _rate_until_stored(redis: Redis, key: str, n: int, timeout: float) -> float:
    """Events/s from the first stored event until n are in Redis (group joins excluded)."""
    deadline = time.perf_counter() + timeout
    first = first_count = 0.0
    while (count := await redis.zcard(key)) < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {count} of {n} events stored in {timeout}s")
        if not first and count:
            first, first_count = time.perf_counter(), count
        await asyncio.sleep(0.005)
    return (n - first_count) / (time.perf_counter() - first)


async def bench_ingest(settings: Settings, quick: bool) -> dict[str, Any]:
    """The delayed-topic consumer: one in-process consumer, then two `serve --role
    consumer` processes sharing the topic's four partitions (the production topology)."""
    n = 20_000 if quick else 200_000
    redis = await _fresh_redis(settings)

    topic = "bench.ingest.one"
    await fill_delayed_topic(settings, topic, n, delay_seconds=3000)
    one = settings.model_copy(
        update={"delayed_topic": topic, "consumer_group": "bench-one", "redis_key_prefix": "one:"}
    )
    service = SchedulerService(one)
    await service.start(roles=["consumer"])
    try:
        single = await _rate_until_stored(redis, Keys("one:").scheduled, n, 300)
    finally:
        await service.stop()

    topic = "bench.ingest.two"
    await fill_delayed_topic(settings, topic, n, delay_seconds=3000)
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "KAFKA_DELAYED_TOPIC_NAME": topic,
        "KAFKA_CONSUMER_GROUP": "bench-two",
        "SCHEDULES_REDIS_KEY_PREFIX": "two:",
        "SCHEDULES_LOG_LEVEL": "WARNING",
        "SCHEDULES_COLD_TIER_ENABLED": "false",  # the hot path alone; see ingest_journal
    }
    procs = [
        subprocess.Popen([sys.executable, "-m", "cli", "serve", "--role", "consumer"], env=env)
        for _ in range(2)
    ]
    try:
        double = await _rate_until_stored(redis, Keys("two:").scheduled, n, 300)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    slow = await _slowlog(redis)
    await redis.aclose()
    best = max(single, double)
    return {
        "events": n,
        "events_per_second_one_process": round(single),
        "events_per_second_two_processes": round(double),
        "target_events_per_second": 50_000,
        "met": best >= 50_000,
        **slow,
    }


async def bench_lateness(settings: Settings, quick: bool) -> dict[str, Any]:
    rate, duration, delay = (1000, 5, 1.0) if quick else (5000, 60, 2.0)
    redis = await _fresh_redis(settings)
    topic = "bench.lateness"
    await ensure_topics(settings, [topic, settings.dead_letter_topic], partitions=4)
    late: list[float] = []

    async def record(outcomes: list[Outcome]) -> None:
        late.extend(
            o.executed_at - o.event.scheduled_at
            for o in outcomes
            if o.status is OutcomeStatus.SUCCESS
        )

    producer = make_producer(settings)
    await producer.start()
    executor = Executor(
        HotStore(redis, Keys("late:")),
        producer,
        ExecutorConfig.from_settings(settings),
        on_outcomes=record,
    )
    task = asyncio.create_task(executor.run())
    gen = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        settings.redis_url,
        "late:",
        topic,
        str(rate),
        str(duration),
        str(delay),
        stdout=subprocess.PIPE,
    )
    out, _ = await gen.communicate()
    load = orjson.loads(out)
    deadline = time.time() + delay + 30
    while len(late) < load["scheduled"] and time.time() < deadline:
        await asyncio.sleep(0.1)
    executor.stop()
    await task
    await producer.stop()
    slow = await _slowlog(redis)
    await redis.aclose()
    ms = [x * 1000 for x in late]
    pct = {k: round(v, 2) for k, v in percentiles(ms).items()}
    return {
        "target_rate": rate,
        "achieved_rate": round(load["rate"]),
        "seconds": duration,
        "scheduled": load["scheduled"],
        "fired": len(late),
        "lateness_ms": pct,
        "target_ms": {"p99": 50, "p99.9": 250},
        "met": len(late) == load["scheduled"]
        and pct.get("p99", 1e9) <= 50
        and pct.get("p99.9", 1e9) <= 250,
        **slow,
    }


async def bench_burst(settings: Settings, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 1_000_000
    redis = await _fresh_redis(settings)
    topic = "bench.burst"
    await ensure_topics(settings, [topic, settings.dead_letter_topic], partitions=4)
    store = HotStore(redis, Keys("burst:"))
    load_started = time.time()
    due_at = float(int(load_started) + (10 if quick else 40))  # one whole second
    chunk = 5000
    for _ in range(0, n, chunk):
        await store.schedule([make_event(topic, due_at + (i % 1000) / 1000) for i in range(chunk)])
    loaded = time.time()
    await redis.slowlog_reset()
    fired = 0
    last_ack = 0.0

    async def record(outcomes: list[Outcome]) -> None:
        nonlocal fired, last_ack
        for o in outcomes:
            if o.status is OutcomeStatus.SUCCESS:
                fired += 1
                last_ack = max(last_ack, o.executed_at)

    claim_ms: list[float] = []
    real_claim = store.claim

    async def timed_claim(*args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return await real_claim(*args, **kw)
        finally:
            claim_ms.append((time.perf_counter() - t) * 1000)

    store.claim = timed_claim  # type: ignore[method-assign]
    producer = make_producer(settings)
    await producer.start()
    executor = Executor(store, producer, ExecutorConfig.from_settings(settings), on_outcomes=record)
    task = asyncio.create_task(executor.run())
    start = max(due_at, loaded)
    deadline = start + 300
    while fired < n and time.time() < deadline:
        await asyncio.sleep(0.2)
    executor.stop()
    await task
    await producer.stop()
    slow = await _slowlog(redis)
    await redis.aclose()
    took = last_ack - start
    return {
        "events": n,
        "load_seconds": round(loaded - load_started, 2),
        "fired": fired,
        "seconds_to_produce_all": round(took, 2),
        "events_per_second": round(fired / took) if took > 0 else None,
        "slowest_claim_call_ms_client_side": round(max(claim_ms, default=0.0), 2),
        "target_seconds": 40,
        "met": fired == n and took <= 40 and slow["redis_calls_over_50ms"] == 0,
        **slow,
    }


SCENARIOS: dict[str, Scenario] = {
    "memory": bench_memory,
    "ingest": bench_ingest,
    "lateness": bench_lateness,
    "burst": bench_burst,
    **COLD_SCENARIOS,
    **HTTP_SCENARIOS,
}


async def run(names: list[str], quick: bool, base: Settings) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        results[name] = await SCENARIOS[name](base, quick)
        results[name]["wall_seconds"] = round(time.perf_counter() - t, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        redis_proc = start_redis(free_port(), Path(tmp) / "redis")
        kafka_proc = start_kafka(free_port(), Path(tmp) / "kafka")
        try:
            settings = Settings(
                redis_url=f"redis://127.0.0.1:{redis_proc.port}/0",
                kafka_bootstrap_servers=f"127.0.0.1:{kafka_proc.port}",
                kafka_idempotent_producer=False,
                cold_tier_enabled=False,  # hot-path scenarios; cold ones bring their own
                clickhouse_shim_port=0,
            )
            results = asyncio.run(run(args.only, args.quick, settings))
        finally:
            kafka_proc.stop()
            redis_proc.stop()
    report = {
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "quick": args.quick,
        "results": results,
    }
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
