"""The client side of the Python API, in this process against the bench's real Redis
(an application embeds `SchedulerService` exactly so; no role runs):

  enqueue_single   `await service.schedule_event(...)`, one awaited call per event
  enqueue_batch    the bulk call: one `await service.schedule_events(items)` for every
                   event (items from a generator, stored 1,000 per write, each write
                   sent while the next chunk is checked); beside it, for comparison, the
                   earlier batch path (prepare(parse_request(item)) per item, one
                   `store_events` per 1,000, each awaited before the next is prepared),
                   and the bulk call with bodies stored uncompressed

Events are due in an hour: nothing fires. Each scenario runs on a fresh redis-server.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.client import BATCH, BODY_TEXT, later_request, python_api, store_batch
from bench.common import Scenario, slow_calls, slow_calls_reset
from bench.roles import cores_busy, cpu_snapshot
from scheduler.hot.keys import Keys
from scheduler.service import BULK_CHUNK
from scheduler.settings import Settings

TOPIC = "user.notifications"
CLIENT = "this process: SchedulerService(settings).start(roles=[]) against the bench's Redis"


def _command(name: str, quick: bool) -> str:
    return f"{Path(sys.executable).name} -m bench --only {name}" + (" --quick" if quick else "")


async def _redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def bench_enqueue_single(settings: Settings, quick: bool) -> dict[str, Any]:
    """As many schedule_event calls as fit in the time (and at most `limit`), one at a time."""
    seconds, limit = (3.0, 50_000) if quick else (15.0, 500_000)
    redis = Redis.from_url(settings.redis_url)
    await slow_calls_reset(redis)
    load_avg = os.getloadavg()
    async with python_api(settings) as service:
        for i in range(200):  # warm-up: connections, script loads, caches
            await service.schedule_event(TOPIC, BODY_TEXT, delay_seconds=3600, schedule_id=f"w{i}")
        cpu0, rcpu0 = time.process_time(), await _redis_cpu(redis)
        all0, t0 = cpu_snapshot(), time.perf_counter()
        end = t0 + seconds
        n = 0
        while n < limit and time.perf_counter() < end:
            await service.schedule_event(
                TOPIC,
                BODY_TEXT,
                entity_type="user",
                action="send_reminder",
                delay_seconds=3600,
                correlation_id=f"reminder-{n}",
                headers={"source": "bench"},
            )
            n += 1
        took = time.perf_counter() - t0
        cpu1, rcpu1 = time.process_time(), await _redis_cpu(redis)
        all1 = cpu_snapshot()
    stored = int(await redis.zcard(Keys(settings.redis_key_prefix).scheduled)) - 200
    slow = await slow_calls(redis)
    await redis.aclose()
    rate = n / took
    return {
        "kind": "client (in this process, real Redis)",
        "command": _command("enqueue_single", quick),
        "client": CLIENT,
        "call": "await service.schedule_event(topic, body, entity_type=..., action=..., "
        "delay_seconds=3600, correlation_id=..., headers={'source': 'bench'}), one at a time",
        "body_bytes": len(BODY_TEXT),
        "events": n,
        "stored": stored,
        "seconds": round(took, 2),
        "events_per_second": round(rate),
        "client_cpu_us_per_event": round((cpu1 - cpu0) / n * 1e6, 1),
        "redis_cpu_us_per_event": round((rcpu1 - rcpu0) / n * 1e6, 1),
        "cpu_cores_busy": cores_busy(all0, all1, took),
        "target_events_per_second": 5_000,
        "met": rate >= 5_000 and stored == n,
        **slow,
        "load_average_before": [round(x, 2) for x in load_avg],
    }


async def _store_many(settings: Settings, n: int, bulk: bool) -> dict[str, Any]:
    redis = Redis.from_url(settings.redis_url)
    await redis.flushall()
    await slow_calls_reset(redis)
    load_avg = os.getloadavg()
    async with python_api(settings) as service:
        await store_batch(service, [later_request(TOPIC, -1)])  # connections, script loads
        cpu0, rcpu0 = time.process_time(), await _redis_cpu(redis)
        all0, t0 = cpu_snapshot(), time.perf_counter()
        if bulk:
            done = await service.schedule_events(later_request(TOPIC, i) for i in range(n))
            added = done.added
        else:
            added = 0
            for at in range(0, n, BATCH):
                items = [later_request(TOPIC, i) for i in range(at, min(n, at + BATCH))]
                added += await store_batch(service, items)
        took = time.perf_counter() - t0
        cpu1, rcpu1 = time.process_time(), await _redis_cpu(redis)
        all1 = cpu_snapshot()
    slow = await slow_calls(redis)
    await redis.aclose()
    return {
        "events": n,
        "stored": added,
        "seconds": round(took, 2),
        "events_per_second": round(n / took),
        "client_cpu_us_per_event": round((cpu1 - cpu0) / n * 1e6, 1),
        "redis_cpu_us_per_event": round((rcpu1 - rcpu0) / n * 1e6, 1),
        "cpu_cores_busy": cores_busy(all0, all1, took),
        "slow": slow,
        "load_average_before": [round(x, 2) for x in load_avg],
    }


async def bench_enqueue_batch(settings: Settings, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 200_000
    r = await _store_many(settings, n, bulk=True)
    plain = settings.model_copy(update={"hot_compress_min_bytes": 0})
    uncompressed = await _store_many(plain, n // 2, bulk=True)
    before = await _store_many(settings, n // 2, bulk=False)
    return {
        "kind": "client (in this process, real Redis)",
        "command": _command("enqueue_batch", quick),
        "client": CLIENT,
        "call": "await service.schedule_events(later_request(i) for i in range(events)): "
        f"one call, items from a generator, {BULK_CHUNK} per write, each write sent "
        "while the next chunk is checked",
        "body_bytes": len(BODY_TEXT),
        **{k: v for k, v in r.items() if k != "slow"},
        "target_events_per_second": 100_000,
        "met": r["events_per_second"] >= 100_000 and r["stored"] == n,
        **r["slow"],
        "bodies_not_compressed": {
            "settings": "SCHEDULES_HOT_COMPRESS_MIN_BYTES=0: what the body's deflate costs",
            **{k: v for k, v in uncompressed.items() if k not in ("slow", "load_average_before")},
        },
        "earlier_batch_path": {
            "call": f"service.prepare(parse_request(item), now) per item, then "
            f"await service.store_events(events, now, source='python') per {BATCH}",
            **{k: v for k, v in before.items() if k not in ("slow", "load_average_before")},
        },
    }


ENQUEUE_SCENARIOS: dict[str, Scenario] = {
    "enqueue_single": bench_enqueue_single,
    "enqueue_batch": bench_enqueue_batch,
}
