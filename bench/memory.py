"""memory: Redis per pending event with a 400-byte body, as the issue's target counts it
(INFO memory used_memory after minus before, divided by the events; a fresh redis-server,
default settings), stored through the batch path by a `SchedulerService` in this process.

Three bodies, so the report shows both sides of compression (scheduler/codec.py):
  json            the bench's realistic 400-byte JSON body (bench/common.py BODY),
                  default settings: stored deflated        (the figure the target counts)
  json_plain      the same with SCHEDULES_HOT_COMPRESS_MIN_BYTES=0: stored as given
  random_base64   400 bytes of random base64 per event (text no dictionary helps),
                  default settings
For each: where the bytes go (MEMORY USAGE of the `scheduled` ZSET and the payload HASH,
every entry sampled), one payload's size, the jemalloc size class Redis allocates it in
and how much it could grow within that class; the whole batch path's CPU per event in
this process and in Redis; and the codec's alone (time.process_time over the same
events): encode (the storing process pays it) and decode (the executor pays it for every
event it fires). `--quick` stores 20,000 events, too few to amortise Redis's fixed
buffers: it reads ~20 bytes per event higher.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.client import BATCH, BODY_TEXT, later_request, python_api, store_batch
from scheduler import codec
from scheduler.hot.keys import Keys
from scheduler.models import Event, parse_request
from scheduler.settings import Settings

TOPIC = "user.notifications"
TARGET = 600
CODEC_EVENTS = 2000  # events whose encoding and decoding is timed


def _random_body(_: int) -> str:
    return base64.b64encode(os.urandom(300)).decode()  # 400 characters


BODIES: dict[str, tuple[Callable[[int], str], dict[str, Any]]] = {
    "json": (lambda _: BODY_TEXT, {}),
    "json_plain": (lambda _: BODY_TEXT, {"hot_compress_min_bytes": 0}),
    "random_base64": (_random_body, {}),
}


def _sds(n: int) -> int:
    """Bytes of a Redis string of n bytes: a header of 3, 5 or 9 by length, then a NUL."""
    return n + 1 + (3 if n < 256 else 5 if n < 65536 else 9)


def _allocated(payload_bytes: int) -> int:
    """What Redis allocates for a hash value of this many bytes: its sds in jemalloc's
    next size class (4 per doubling above 128 bytes: ..., 320, 384, 448, 512, 640, ...)."""
    size = _sds(payload_bytes)
    if size <= 16:
        return 8 if size <= 8 else 16
    step = 16 if size <= 128 else 1 << ((size - 1).bit_length() - 3)
    return -(-size // step) * step


def _cpu_us(fn: Callable[[], object], n: int) -> float:
    """CPU µs per call of the n calls fn makes, best of 5 rounds."""
    best = float("inf")
    for _ in range(5):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return round(best / n * 1e6, 2)


def _codec_cpu(events: list[Event], min_bytes: int) -> dict[str, float]:
    payloads = [codec.encode(ev, min_bytes) for ev in events]
    n = len(events)
    return {
        "encode_us_per_event": _cpu_us(lambda: [codec.encode(e, min_bytes) for e in events], n),
        "decode_us_per_event": _cpu_us(
            lambda: [codec.decode(e.schedule_id, p) for e, p in zip(events, payloads, strict=True)],
            n,
        ),
    }


async def _redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def _fill(settings: Settings, n: int, body: Callable[[int], str]) -> dict[str, Any]:
    redis = Redis.from_url(settings.redis_url)
    keys = Keys(settings.redis_key_prefix)
    try:
        await redis.flushall()
        async with python_api(settings) as service:
            await store_batch(service, [later_request(TOPIC, -1)])  # connections, scripts
            before = int((await redis.info("memory"))["used_memory"])
            redis_cpu0 = await _redis_cpu(redis)
            added, client_cpu = 0, 0.0
            for at in range(0, n, BATCH):
                items = [
                    later_request(TOPIC, i) | {"body": body(i)}
                    for i in range(at, min(n, at + BATCH))
                ]
                t = time.process_time()  # the store path's CPU, not making the bodies
                added += await store_batch(service, items)
                client_cpu += time.process_time() - t
            redis_cpu = await _redis_cpu(redis) - redis_cpu0
            after = int((await redis.info("memory"))["used_memory"])
            now = time.time()
            sample = [
                service.prepare(parse_request(later_request(TOPIC, i) | {"body": body(i)}), now)
                for i in range(CODEC_EVENTS)
            ]
        zset = int(await redis.memory_usage(keys.scheduled, samples=0) or 0)
        hashed = int(await redis.memory_usage(keys.payloads, samples=0) or 0)
    finally:
        await redis.aclose()
    per_event = (after - before) / n
    min_bytes = settings.hot_compress_min_bytes
    payload = codec.encode(sample[0], min_bytes)  # as the store encodes it
    return {
        "hot_compress_min_bytes": min_bytes,
        "events": n,
        "stored": added,
        "used_memory_before": before,
        "used_memory_after": after,
        "bytes_per_pending_event": round(per_event, 1),
        "scheduled_zset_bytes_per_event": round(zset / (n + 1), 1),
        "payload_hash_bytes_per_event": round(hashed / (n + 1), 1),
        "payload_bytes": len(payload),
        # the class it lands in, and how many bytes more the payload could grow within it
        "payload_allocated_bytes": _allocated(len(payload)),
        "payload_headroom_bytes": _allocated(len(payload)) - _sds(len(payload)),
        "stored_deflated": payload[1] == codec.DEFLATED,
        # the whole batch path (validate, prepare, encode, send) and Redis's share
        "client_cpu_us_per_event": round(client_cpu / n * 1e6, 1),
        "redis_cpu_us_per_event": round(redis_cpu / n * 1e6, 1),
        **_codec_cpu(sample, min_bytes),
    }


async def bench_memory(settings: Settings, quick: bool) -> dict[str, Any]:
    n = 20_000 if quick else 200_000
    runs: dict[str, Any] = {}
    for name, (body, overrides) in BODIES.items():
        runs[name] = await _fill(settings.model_copy(update=overrides), n, body)
    per_event = runs["json"]["bytes_per_pending_event"]
    return {
        "kind": "client (in this process, real Redis)",
        "command": f"{Path(sys.executable).name} -m bench --only memory"
        + (" --quick" if quick else ""),
        "measured": "INFO memory used_memory after minus before storing the events, "
        "divided by their number (fresh redis-server, FLUSHALL before each body)",
        "stored_through": f"the batch path ({BATCH} per store_events)",
        "event": "400-byte body, generated schedule_id, topic user.notifications, "
        "entity_type user, action send_reminder, correlation_id reminder-<n>, one header",
        "events": n,
        "body_bytes": len(BODY_TEXT),
        "bytes_per_pending_event": per_event,
        "target_bytes": TARGET,
        "met": per_event <= TARGET and runs["json"]["stored"] == n,
        "bodies": runs,
    }


MEMORY_SCENARIOS = {"memory": bench_memory}
