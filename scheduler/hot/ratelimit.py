"""Per-topic rate limits: at most `rate` events per second fire to a topic, in bursts of
at most `burst` (default: one second's worth, at least one).

Limits come from SCHEDULES_TOPIC_RATE_LIMITS (each executor passes its own to the claim
script) and from run time (HASH `scheduled_events:rate_limits`, set here through the
Python API, the HTTP API and the CLI), which override the settings' topic by topic and
survive restarts. claim.lua enforces them atomically across every executor with one token
bucket per topic refilled by Redis's clock. Due events over a limit are never dropped or
fired early: they move aside to their topic's throttled set and fire, earliest first, as
tokens come; other topics and priorities are not held up behind them. Each keeps its own
`max_delay_seconds`: one throttled for longer than that is skipped, as any late event is.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scheduler.errors import InvalidEvent
from scheduler.hot.store import HotStore
from scheduler.models import is_legal_topic
from scheduler.settings import RateLimit, check_rate_limit

log = logging.getLogger(__name__)


class Source(enum.StrEnum):
    SETTINGS = "settings"  # SCHEDULES_TOPIC_RATE_LIMITS
    RUNTIME = "runtime"  # set through the APIs, kept in Redis


@dataclass(frozen=True, slots=True)
class TopicLimit:
    """The limit in force for one topic, and where it comes from."""

    topic: str
    limit: RateLimit
    source: Source
    since: float | None = None  # Unix s, when set at run time
    overrides: RateLimit | None = None  # the setting a run-time limit overrides
    throttled: int = 0  # due events waiting for a token now

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "topic": self.topic,
            "events_per_second": self.limit.rate,
            "burst": self.limit.capacity,
            "source": self.source.value,
            "throttled": self.throttled,
        }
        if self.since is not None:
            out["since"] = datetime.fromtimestamp(self.since, UTC).isoformat()
        if self.overrides is not None:
            out["overrides"] = {
                "events_per_second": self.overrides.rate,
                "burst": self.overrides.capacity,
            }
        return out


@dataclass(slots=True)
class RateLimitState:
    limits: list[TopicLimit] = field(default_factory=list)
    # Due events waiting per topic: limited ones, and any whose limit just ended.
    throttled: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What `stats` reports under `rate_limits`."""
        return {
            "limits": [lim.to_dict() for lim in self.limits],
            "throttled": sum(self.throttled.values()),
        }


def check_topic(topic: str) -> str:
    if not is_legal_topic(topic):
        raise InvalidEvent("not a legal Kafka topic name (1-249 of [A-Za-z0-9._-])", field="topic")
    return topic


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent("must be a number", field=name)
    return float(value)


def check_limit(rate: float, burst: float | None) -> RateLimit:
    """The limit, or InvalidEvent naming the field that is out of range."""
    rate = _number(rate, "events_per_second")
    burst = None if burst is None else _number(burst, "burst")
    if problem := check_rate_limit(rate, burst):
        raise InvalidEvent(problem[1], field=problem[0])
    return RateLimit(float(rate), None if burst is None else float(burst))


class RateLimitControl:
    """Set, clear and report rate limits on the hot tier's Redis; `defaults` are this
    process's SCHEDULES_TOPIC_RATE_LIMITS (for reporting what is in force)."""

    def __init__(self, store: HotStore, defaults: Mapping[str, RateLimit]) -> None:
        self.store = store
        self.keys = store.keys
        self.defaults = dict(defaults)

    async def set(
        self, topic: str, rate: float, burst: float | None = None, *, now: float | None = None
    ) -> TopicLimit:
        """Limit `topic` (replacing its earlier run-time limit) from the next claim on."""
        check_topic(topic)
        limit = check_limit(rate, burst)
        shards = len(self.store.shards)
        meta: dict[str, Any] = {
            "rate": limit.rate,
            "burst": limit.burst,
            "since": time.time() if now is None else now,
        }
        if shards > 1:
            # Each shard's claims take from their own bucket at a 1/N share of the limit,
            # so that all shards together keep to it; "shards" says how to add them up.
            meta["rate"] = limit.rate / shards
            meta["burst"] = None if limit.burst is None else limit.burst / shards
            meta["shards"] = shards
        value = json.dumps(meta)
        await self.store.write_each(lambda k: ("HSET", k.rate_limits, topic, value))
        await self._wake()
        found = await self.get(topic)
        assert found is not None
        return found

    async def clear(self, topic: str) -> bool:
        """Remove `topic`'s run-time limit (its setting, if any, applies again; without
        one, its waiting events fire as fast as the executors go). False if it had none."""
        check_topic(topic)
        removed = (await self.store.write_each(lambda k: ("HDEL", k.rate_limits, topic)))[0]
        if removed:
            await self._wake()
        return bool(removed)

    async def get(self, topic: str) -> TopicLimit | None:
        """The limit in force for `topic`, if any."""
        check_topic(topic)
        return next((lim for lim in (await self.state()).limits if lim.topic == topic), None)

    async def state(self) -> RateLimitState:
        raw = await self.store.redis.hgetall(self.keys.rate_limits)
        throttled = await self.store.throttled()
        runtime = parse_limits(raw, self.keys.rate_limits)
        limits = []
        for topic in sorted(set(self.defaults) | set(runtime)):
            default = self.defaults.get(topic)
            if topic in runtime:
                limit, since = runtime[topic]
                source, overrides = Source.RUNTIME, default
            else:
                assert default is not None
                limit, since, source, overrides = default, None, Source.SETTINGS, None
            limits.append(
                TopicLimit(topic, limit, source, since, overrides, throttled.get(topic, 0))
            )
        return RateLimitState(limits, throttled)

    async def _wake(self) -> None:
        """Executors sleeping until a token may now take more (or less)."""
        await self.store.publish_wakeups("rate-limit")


def parse_limits(raw: Mapping[Any, Any], key: str) -> dict[str, tuple[RateLimit, float | None]]:
    """The run-time limits of the HASH `key` (its HGETALL, bytes or str): topic ->
    (limit, since); an entry RateLimitControl did not write is logged and left out (the
    claim script ignores it too)."""
    out = {}
    for name, value in sorted(raw.items()):
        topic = name.decode() if isinstance(name, bytes) else name
        try:
            meta = json.loads(value)
            share = int(meta.get("shards", 1))  # a 1/N share of the limit per shard
            rate = round(float(meta["rate"]) * share, 9)
            burst = None if meta.get("burst") is None else round(float(meta["burst"]) * share, 9)
            since = None if meta.get("since") is None else float(meta["since"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable rate limit entry %r in %s", topic, key)
            continue
        if rate <= 0:
            continue
        out[topic] = (RateLimit(rate, burst), since)
    return out
