"""reschedule.lua and the time-guarded cancel, on the real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from redis.asyncio import Redis

from scheduler.hot.pause import PauseControl, Scope
from scheduler.hot.ratelimit import RateLimitControl
from scheduler.hot.store import CancelResult, HotChange, HotStore
from scheduler.models import Event


def event(sid: str, at: float, **kw: object) -> Event:
    return Event(schedule_id=sid, topic="t", body=b"b-" + sid.encode(), scheduled_at=at, **kw)  # type: ignore[arg-type]


async def index(redis: Redis, hot: HotStore, sid: str) -> dict[str, object]:
    """Where the hot tier's keys have `sid`."""
    k = hot.keys
    levels = [m.decode() for m in await redis.zrange(k.levels, 0, -1)]
    return {
        "scheduled": await redis.zscore(k.scheduled, sid),
        "held": await redis.zscore(k.held, sid),
        "priority": await redis.hget(k.priorities, sid),
        "levels": levels,
        "in_levels": {lv: await redis.zscore(k.level_prefix + lv, sid) for lv in levels},
    }


async def test_reschedule_changes_time_payload_and_priority_index(
    redis: Redis, hot: HotStore
) -> None:
    now = time.time()
    await hot.schedule([event("a", now + 100, priority=3), event("b", now + 50, priority=3)])
    new = dataclasses.replace(event("a", now + 200, priority=-2), body=b"new", headers={"h": "v"})
    assert await hot.reschedule(new) is HotChange.RESCHEDULED
    where = await index(redis, hot, "a")
    assert where["scheduled"] == now + 200
    assert where["priority"] == b"-2"
    assert where["levels"] == ["-2", "3"]  # 3 still has "b"
    assert where["in_levels"] == {"-2": now + 200, "3": None}
    state, stored = await hot.get("a")  # type: ignore[misc]
    assert (state, stored.body, stored.headers, stored.priority) == (
        "pending",
        b"new",
        {"h": "v"},
        -2,
    )
    # To priority 0: out of every level set; the emptied level goes.
    assert await hot.reschedule(dataclasses.replace(new, priority=0)) is HotChange.RESCHEDULED
    where = await index(redis, hot, "a")
    assert (where["priority"], where["levels"]) == (None, ["3"])
    assert await hot.counts() == {"pending": 2, "held": 0, "in_flight": 0}


async def test_an_event_held_by_a_pause_is_rescheduled_back_into_the_queue(
    redis: Redis, hot: HotStore
) -> None:
    now = time.time()
    await hot.schedule([event("h", now - 1, priority=1)])
    await PauseControl(hot).pause(Scope.TOPIC, topic="t")
    batch = await hot.claim(10, 30)
    assert batch.items == []
    assert (await index(redis, hot, "h"))["held"] is not None
    assert await hot.reschedule(event("h", now + 60, priority=1)) is HotChange.RESCHEDULED
    where = await index(redis, hot, "h")
    assert (where["held"], where["scheduled"], where["priority"]) == (None, now + 60, b"1")
    assert where["in_levels"] == {"1": now + 60}


async def test_in_flight_and_unknown_events_are_left_alone(hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([event("f", now - 1)])
    claimed = await hot.claim(10, 30)
    assert [c.event.schedule_id for c in claimed.items] == ["f"]
    assert await hot.reschedule(event("f", now + 60)) is HotChange.IN_FLIGHT
    assert await hot.reschedule(event("f", now + 60), add=True) is HotChange.IN_FLIGHT
    assert await hot.counts() == {"pending": 0, "held": 0, "in_flight": 1}
    assert await hot.reschedule(event("nope", now + 60)) is HotChange.UNKNOWN
    assert await hot.get("nope") is None
    assert await hot.reschedule(event("nope", now + 60), add=True) is HotChange.ADDED
    assert (await hot.get("nope"))[0] == "pending"  # type: ignore[index]


async def test_an_earlier_time_wakes_sleeping_executors(redis: Redis, hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([event("x", now + 100), event("y", now + 200)])
    pubsub = redis.pubsub()
    await pubsub.subscribe(hot.keys.wakeup)
    await pubsub.get_message(timeout=1)  # the subscription itself
    await hot.reschedule(event("y", now + 150))  # later than the head: no wake-up
    await hot.reschedule(event("y", now + 10))
    message = None
    while message is None:
        message = await asyncio.wait_for(pubsub.get_message(timeout=1), 5)
    assert abs(float(message["data"]) - (now + 10)) < 0.001
    await pubsub.aclose()


async def test_a_cancel_for_a_time_leaves_another_time_alone(hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([event("c", now + 100)])
    await hot.reschedule(event("c", now + 300))
    assert await hot.cancel("c", at=now + 100) is CancelResult.UNKNOWN
    assert (await hot.get("c")) is not None
    assert await hot.cancel("c", at=now + 300) is CancelResult.PENDING
    assert await hot.get("c") is None


async def test_an_event_waiting_for_its_topics_rate_limit_is_rescheduled(
    redis: Redis, hot: HotStore
) -> None:
    await RateLimitControl(hot, {}).set("t", 0.5, 1.0)  # one token now, the next in 2 s
    now = time.time()
    await hot.schedule([event("first", now - 1, priority=5), event("waits", now - 0.5, priority=2)])
    batch = await hot.claim(10, 30)
    assert [c.event.schedule_id for c in batch.items] == ["first"]
    assert (await hot.get("waits"))[0] == "throttled"  # type: ignore[index]
    assert await hot.reschedule(event("waits", now + 60, priority=2)) is HotChange.RESCHEDULED
    assert (await hot.get("waits"))[0] == "pending"  # type: ignore[index]
    assert await redis.zscore(hot.keys.throttled_prefix + "t", "waits") is None
    where = await index(redis, hot, "waits")
    assert (where["scheduled"], where["priority"]) == (now + 60, b"2")
    # The time guard applies to a throttled event too.
    await hot.schedule([event("late", now - 0.2)])
    await hot.claim(10, 30)
    assert (await hot.get("late"))[0] == "throttled"  # type: ignore[index]
    assert await hot.cancel("late", at=now + 5) is CancelResult.UNKNOWN
    assert await hot.cancel("late", at=now - 0.2) is CancelResult.PENDING
