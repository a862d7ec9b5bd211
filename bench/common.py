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


async def slow_calls_reset(redis: Redis, threshold_ms: int = 50) -> None:
    """Make Redis log every call of at least `threshold_ms`, from an empty log."""
    if isinstance(redis, RedisCluster):  # every primary's own log
        primaries = RedisCluster.PRIMARIES
        await redis.config_set(
            "slowlog-log-slower-than", threshold_ms * 1000, target_nodes=primaries
        )
        await redis.slowlog_reset(target_nodes=primaries)
        return
    await redis.config_set("slowlog-log-slower-than", threshold_ms * 1000)
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
    """Redis calls over the slow-log threshold since slow_calls_reset (at most 128)."""
    if isinstance(redis, RedisCluster):
        per_node = await redis.slowlog_get(128, target_nodes=RedisCluster.PRIMARIES)
        entries = [e for found in dict(per_node).values() for e in found]
    else:
        entries = await redis.slowlog_get(128)
    return {
        "redis_calls_over_50ms": len(entries),
        "slowest_redis_call_ms": max((e["duration"] / 1000 for e in entries), default=0.0),
        "slow_redis_calls": sorted({_command_name(e.get("command")) for e in entries}),
    }
