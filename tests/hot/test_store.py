"""The Redis hot tier's atomic operations, against a real redis-server."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from scheduler.hot.store import CancelResult, HotStore, Release
from scheduler.models import Event


def ev(sid: str, at: float, priority: int = 0, body: bytes = b"x") -> Event:
    return Event(schedule_id=sid, topic="t", body=body, scheduled_at=at, priority=priority)


async def test_runbook_key_holds_pending_events_scored_in_unix_seconds(
    hot: HotStore, redis: Redis
) -> None:
    at = 1_900_000_000.123456
    await hot.schedule([ev("a", at)])
    # The runbook's `redis-cli zrange scheduled_events 0 10 WITHSCORES`:
    assert await redis.zrange(hot.keys.scheduled, 0, 10, withscores=True) == [(b"a", at)]
    assert hot.keys.scheduled.endswith("scheduled_events")


async def test_same_schedule_id_twice_keeps_the_first_event(hot: HotStore) -> None:
    now = time.time()
    assert await hot.schedule([ev("a", now + 60, body=b"first")]) == [True]
    assert await hot.schedule([ev("a", now + 5, body=b"second"), ev("b", now)]) == [False, True]
    state, stored = await hot.get("a") or ("", None)
    assert state == "pending" and stored is not None
    assert stored.body == b"first"
    assert stored.scheduled_at == pytest.approx(now + 60, abs=1e-6)  # kept to the microsecond
    assert (await hot.counts())["pending"] == 2


async def test_claim_takes_only_due_events_in_time_order(hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([ev("late", now + 3600), ev("b", now - 1), ev("a", now - 2)])
    batch = await hot.claim(10, 30)
    assert [c.event.schedule_id for c in batch.items] == ["a", "b"]
    assert (await hot.claim(10, 30)).items == []
    assert await hot.counts() == {"pending": 1, "held": 0, "in_flight": 2}


async def test_backlog_fires_highest_priority_first(hot: HotStore) -> None:
    now = time.time()
    events = [
        ev("low-old", now - 50, priority=-1),
        ev("zero-old", now - 40),
        ev("high-new", now - 1, priority=10),
        ev("mid", now - 30, priority=3),
        ev("zero-new", now - 2),
        ev("high-old", now - 20, priority=10),
        ev("future-high", now + 100, priority=99),
    ]
    await hot.schedule(events)
    order = []
    while batch := (await hot.claim(2, 30)).items:
        order += [c.event.schedule_id for c in batch]
    assert order == ["high-old", "high-new", "mid", "zero-old", "zero-new", "low-old"]


async def test_ack_needs_the_current_lease_token(hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([ev("a", now - 1)])
    first = await hot.claim(10, -0.5)  # lease already expired
    assert await hot.reap() == 1
    second = await hot.claim(10, 30)
    assert second.items[0].attempts == 1  # the lost delivery counts
    assert await hot.ack(first.token, ["a"]) == 0  # stale executor cannot ack
    assert await hot.ack(second.token, ["a"]) == 1
    assert await hot.counts() == {"pending": 0, "held": 0, "in_flight": 0}
    assert await hot.get("a") is None


async def test_release_returns_event_with_priority_and_attempt(hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([ev("a", now - 1, priority=5), ev("b", now - 2)])
    batch = await hot.claim(1, 30)
    assert [c.event.schedule_id for c in batch.items] == ["a"]
    assert await hot.release(batch.token, [Release("a", -0.5, True)]) == 1
    again = await hot.claim(1, 30)
    assert [(c.event.schedule_id, c.attempts) for c in again.items] == [("a", 1)]


async def test_cancel_reports_each_state(hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([ev("pending", now + 60, priority=2), ev("flying", now - 1)])
    await hot.claim(10, 30)
    assert await hot.cancel("pending") is CancelResult.PENDING
    assert await hot.cancel("flying") is CancelResult.IN_FLIGHT
    assert await hot.cancel("pending") is CancelResult.UNKNOWN
    assert not CancelResult.UNKNOWN and CancelResult.PENDING
    assert await hot.counts() == {"pending": 0, "held": 0, "in_flight": 0}
    # nothing of either event is left behind (payloads, priority index, leases)
    leftover = [k for k in await hot.redis.keys(hot.keys.prefix + "*") if not k.endswith(b"fence")]
    assert leftover == []


async def test_reaped_in_flight_cancel_is_not_resurrected(hot: HotStore) -> None:
    now = time.time()
    await hot.schedule([ev("a", now - 1)])
    await hot.claim(10, -0.1)
    assert await hot.cancel("a") is CancelResult.IN_FLIGHT
    assert await hot.reap() == 0
    assert (await hot.claim(10, 30)).items == []


async def test_large_batches_are_split_into_bounded_script_calls(hot: HotStore) -> None:
    now = time.time()
    events = [ev(f"e{i}", now - 1) for i in range(1234)]
    assert all(await hot.schedule(events))
    batch = await hot.claim(5000, 30)
    assert len(batch.items) == 1234
    assert await hot.ack(batch.token, [c.event.schedule_id for c in batch.items]) == 1234


async def test_a_claim_of_thousands_is_whole_in_order_and_leaves_nothing_after_ack(
    hot: HotStore,
) -> None:
    # More events than one claim script call takes (several calls, one lease token) and
    # than the scripts read or write in one bulk command (prelude.lua), with priorities
    # and earlier attempts among them: none is lost, doubled or reordered.
    now = time.time()

    def priority(i: int) -> int:
        return -1 if i % 450 == 7 else 1 if i % 3 == 0 else 0

    events = [ev(f"e{i:05}", now - 10 + i / 10_000, priority=priority(i)) for i in range(4500)]
    assert all(await hot.schedule(events))
    first = await hot.claim(10, -0.5)  # lease already expired: reaped, one attempt counted
    assert await hot.reap() == 10
    batch = await hot.claim(5000, 30)
    want = sorted(events, key=lambda e: (-e.priority, e.scheduled_at))
    assert [c.event.schedule_id for c in batch.items] == [e.schedule_id for e in want]
    again = {c.event.schedule_id for c in first.items}
    assert {c.event.schedule_id for c in batch.items if c.attempts == 1} == again
    assert all(c.attempts == 0 for c in batch.items if c.event.schedule_id not in again)
    assert await hot.ack(first.token, [c.event.schedule_id for c in first.items]) == 0
    assert await hot.ack(batch.token, [c.event.schedule_id for c in batch.items]) == 4500
    assert await hot.counts() == {"pending": 0, "held": 0, "in_flight": 0}
    leftover = [k for k in await hot.redis.keys(hot.keys.prefix + "*") if not k.endswith(b"fence")]
    assert leftover == []
