"""Cleanup: finished schedules past retention (counted per kind) and hot-tier debris."""

from __future__ import annotations

import time

from cold.runbook import COUNT_PENDING
from scheduler.cold.cleanup import cleanup
from scheduler.cold.records import (
    FIRST_VERSION,
    OUTCOME_BAND,
    Status,
    Tier,
    micros,
    row,
)
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.models import Event

DAY = 86400.0


def event(sid: str, at: float, priority: int = 0) -> Event:
    return Event(schedule_id=sid, topic="t", body=b"x", scheduled_at=at, priority=priority)


async def test_finished_schedules_past_retention_are_removed(
    cold: ColdStore, hot: HotStore
) -> None:
    now = time.time()
    old, recent = now - 40 * DAY, now - 2 * DAY
    rows = []
    for i, status in enumerate(["executed"] * 3 + ["cancelled"] * 2 + ["skipped", "error"]):
        ev = event(f"old-{i}", old)
        rows.append(row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION, updated_us=micros(old)))
        rows.append(row(ev, Status(status), Tier.HOT, OUTCOME_BAND + i, updated_us=micros(old)))
    rows.append(
        row(event("recent", recent), Status.EXECUTED, Tier.HOT, 5, updated_us=micros(recent))
    )
    rows.append(
        row(event("waiting", now + DAY), Status.PENDING, Tier.COLD, 1, updated_us=micros(old))
    )
    await cold.write(rows)

    result = await cleanup(cold, hot, retention_days=30, batch_size=2)
    assert result.removed == {"executed": 3, "cancelled": 2, "skipped": 1, "error": 1}
    left = await cold.count_by_status(list(Status))
    assert {k: v for k, v in left.items() if v} == {"executed": 1, "pending": 1}
    assert await cold.ch.query(COUNT_PENDING) == [{"count()": 1}]
    assert (await cleanup(cold, hot, retention_days=30)).removed == {}


async def test_months_with_nothing_left_are_dropped(cold: ColdStore, hot: HotStore) -> None:
    now = time.time()
    long_ago = now - 120 * DAY
    await cold.write(
        [
            row(event(f"a{i}", long_ago), Status.EXECUTED, Tier.HOT, 9, updated_us=micros(long_ago))
            for i in range(5)
        ]
    )
    result = await cleanup(cold, hot, retention_days=30)
    assert result.removed == {"executed": 5}
    assert len(result.partitions_dropped) == 1
    raw = await cold.ch.query("SELECT count() AS n FROM event_schedules_log")
    assert raw == [{"n": 0}]  # the versions and the tombstones went with the partition


async def test_hot_debris_left_by_the_runbook_emergency_trim_is_removed(
    cold: ColdStore, hot: HotStore
) -> None:
    now = time.time()
    await hot.schedule(
        [event(f"old-{i}", now - 3600 - i, priority=i % 3) for i in range(30)]
        + [event(f"new-{i}", now - 1, priority=1) for i in range(10)]
    )
    # The runbook: redis-cli eval "return redis.call('zremrangebyscore', 'scheduled_events',
    # 0, <an hour ago>)" 0 -- it trims the sorted set and nothing else.
    trimmed = await hot.redis.eval(
        "return redis.call('zremrangebyscore', KEYS[1], 0, ARGV[1])",
        1,
        hot.keys.scheduled,
        repr(now - 3600 + 0.5),
    )
    assert trimmed == 30
    assert await hot.redis.hlen(hot.keys.payloads) == 40  # their payloads stayed

    result = await cleanup(cold, hot, retention_days=30)
    assert result.hot_orphans == 30
    assert await hot.redis.hlen(hot.keys.payloads) == 10
    assert await hot.redis.hlen(hot.keys.priorities) == 10
    assert await hot.redis.zrange(hot.keys.levels, 0, -1) == [b"1"]
    assert await hot.redis.zcard(hot.keys.level_prefix + "1") == 10
    claimed = await hot.claim(100, 60)  # only the live ten remain
    assert sorted(c.event.schedule_id for c in claimed.items) == [f"new-{i}" for i in range(10)]
    assert (await cleanup(cold, hot, retention_days=30)).hot_orphans == 0
