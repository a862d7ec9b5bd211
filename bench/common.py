"""What the benchmark scenarios share: their type, the event they use, percentile maths,
Redis's slow log."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from scheduler.hot.store import SCRIPTS, script_source
from scheduler.kafka import ensure_topics, make_producer
from scheduler.models import Event, new_schedule_id
from scheduler.settings import Settings

# A scenario: (base settings, quick) -> its JSON report.
Scenario = Callable[[Settings, bool], Awaitable[dict[str, Any]]]

# A 400-byte JSON body, as the memory target specifies, with what such bodies
# hold (ids, an email, a timestamp, prose) rather than padding: the hot tier deflates
# bodies (scheduler/codec.py), and padding would deflate to nothing.
BODY = (
    b'{"event_id":"9f1c2e7a-4b3d-4e8a-a1f6-2d9c8b7e5f30","user_id":184467,'
    b'"email":"maria.gonzalez@example.com","created_at":"2026-12-02T11:58:43.512Z",'
    b'"template":"appointment_reminder_v3","locale":"en-GB",'
    b'"subject":"Your appointment on Thursday","message":"Hi Mariah, a reminder of your '
    b"appointment with Dr. Herrera on Thursday at 10:30. If you cannot come, please cancel "
    b'it in the app.","channel":"email"}'
)
assert len(BODY) == 400


def make_event(topic: str, at: float) -> Event:
    """A typical event: generated id, short names, a correlation id and one header."""
    return Event(
        schedule_id=new_schedule_id(),
        topic=topic,
        body=BODY,
        scheduled_at=at,
        entity_type="user",
        action="send_reminder",
        correlation_id=f"reminder-{os.urandom(6).hex()}",
        headers={"source": "bench"},
        created_at=at,
    )


def percentiles(
    values: list[float], ps: tuple[float, ...] = (50, 90, 99, 99.9)
) -> dict[str, float]:
    """Nearest-rank percentiles, plus max; empty input gives an empty dict."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for p in ps:
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        out[f"p{p:g}"] = ordered[rank - 1]
    out["max"] = ordered[-1]
    return out


async def fill_delayed_topic(settings: Settings, topic: str, n: int, delay_seconds: float) -> None:
    """Put n valid envelopes (400-byte bodies) on a 4-partition delayed topic."""
    await ensure_topics(settings, [topic, settings.dead_letter_topic], partitions=4)
    producer = make_producer(settings, linger_ms=20)
    await producer.start()
    envelope = {
        "topic": "user.notifications",
        "entity_type": "user",
        "action": "send_reminder",
        "body": BODY.decode(),
        "delay_seconds": delay_seconds,
        "correlation_id": "reminder-123",
        "headers": {"source": "bench"},
    }
    futures = []
    for i in range(n):
        sid = f"{topic}-{i}"
        envelope["schedule_id"] = sid
        # Keyed by schedule_id, as publish_with_delay keys them.
        futures.append(await producer.send(topic, orjson.dumps(envelope), key=sid.encode()))
    await asyncio.gather(*futures)
    await producer.stop()


# Redis logs every call of at least this long, so the slowest call is known even when it
# is far under the target's 50 ms; room for every such call of a 1,000,000-event burst
# (a few thousand claims and acks).
LOGGED_FROM_MS = 1
LOG_LENGTH = 100_000
OVER_MS = 50  # the target: no call over this


async def slow_calls_reset(redis: Redis) -> None:
    """Make Redis log every call of at least LOGGED_FROM_MS, from an empty log."""
    settings = {"slowlog-log-slower-than": LOGGED_FROM_MS * 1000, "slowlog-max-len": LOG_LENGTH}
    if isinstance(redis, RedisCluster):  # every primary's own log
        primaries = RedisCluster.PRIMARIES
        for name, value in settings.items():
            await redis.config_set(name, value, target_nodes=primaries)
        await redis.slowlog_reset(target_nodes=primaries)
        return
    for name, value in settings.items():
        await redis.config_set(name, value)
    await redis.slowlog_reset()


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


async def slow_calls(redis: Redis) -> dict[str, Any]:
    """Redis calls since slow_calls_reset: how many took over OVER_MS and which commands
    they were, the slowest (any over LOGGED_FROM_MS) and what it was."""
    if isinstance(redis, RedisCluster):
        per_node = await redis.slowlog_get(LOG_LENGTH, target_nodes=RedisCluster.PRIMARIES)
        entries = [e for found in dict(per_node).values() for e in found]
    else:
        entries = await redis.slowlog_get(LOG_LENGTH)
    over = [e for e in entries if e["duration"] > OVER_MS * 1000]
    slowest = max(entries, key=lambda e: e["duration"], default=None)
    return {
        f"redis_calls_over_{OVER_MS}ms": len(over),
        "slowest_redis_call_ms": 0.0 if slowest is None else slowest["duration"] / 1000,
        "slowest_redis_call": None if slowest is None else _command_name(slowest.get("command")),
        f"redis_calls_of_{LOGGED_FROM_MS}ms_or_more": len(entries),
        "slow_redis_calls": sorted({_command_name(e.get("command")) for e in over}),
    }


_RUNS: dict[str, int] = {}


def run_name(name: str) -> str:
    """`name` the first time, `name.run2` the next, ...: the topics and consumer groups of
    a scenario run again (--repeat) on the same broker start empty."""
    _RUNS[name] = _RUNS.get(name, 0) + 1
    return name if _RUNS[name] == 1 else f"{name}.run{_RUNS[name]}"


# What `--repeat N` lists of each run (the figures a report has) and how the worst of the
# runs is taken: the largest, the smallest, or the total.
_WORST_OF = {
    "seconds_to_drain": max,
    "events_per_second": min,
    "slowest_redis_call_ms": max,
    "redis_calls_over_50ms": sum,
    "fired": min,
    "early": sum,
    "duplicates": sum,
}
_RUN_FIGURES = (
    "started_at",
    *_WORST_OF,
    "slowest_redis_call",
    "lateness_ms",
    "executor_cpu_seconds",
    "executor_cpu_cores_busy",
    "met",
)


def repeated(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One report for several runs of a scenario: the full report of its worst run (the
    longest drain, else the first that missed its target, else the last), each run's
    figures, the worst of each figure over the runs, and `met` only if every run met."""
    if any("seconds_to_drain" in r for r in runs):
        worst_run = max(runs, key=lambda r: r.get("seconds_to_drain", 0.0))
    else:
        worst_run = next((r for r in runs if r.get("met") is False), runs[-1])
    worst: dict[str, Any] = {}
    for key, pick in _WORST_OF.items():
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values:
            worst[key] = pick(values)
    return {
        **worst_run,
        "report_of_run": runs.index(worst_run) + 1,
        "runs": [{k: r[k] for k in _RUN_FIGURES if k in r} for r in runs],
        "worst_of_runs": worst,
        "met": all(r.get("met", True) for r in runs),
    }
