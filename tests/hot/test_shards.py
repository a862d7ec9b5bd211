"""The hot tier in three shards (SCHEDULES_REDIS_SHARDS=3) on one real redis-server:
each event in its own shard, every operation across shards, claims fair to every shard,
pauses and rate limits seen by every shard's claims, and the stored shard count."""

from __future__ import annotations

import time

import pytest
from conftest import eventually
from redis.asyncio import Redis

from scheduler.errors import ConfigError
from scheduler.hot.keys import Keys, shard_count_key, shard_of
from scheduler.hot.outcome import Outcome
from scheduler.hot.pause import PauseControl, Scope
from scheduler.hot.ratelimit import RateLimitControl
from scheduler.hot.store import CancelResult, HotStore, Release
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings

SHARDS = 3


def ev(sid: str, at: float, topic: str = "t", priority: int = 0) -> Event:
    return Event(
        schedule_id=sid, topic=topic, body=sid.encode(), scheduled_at=at, priority=priority
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"redis_shards": SHARDS})


async def test_events_live_in_their_ids_shard(hot: HotStore, redis: Redis) -> None:
    now = time.time()
    ids = [f"e{i}" for i in range(60)]
    assert await hot.schedule([ev(i, now + 60) for i in ids]) == [True] * 60
    assert await hot.schedule([ev("e0", now + 5), ev("new", now + 5)]) == [False, True]
    for k in hot.shards:
        members = {m.decode() for m in await redis.zrange(k.scheduled, 0, -1)}
        assert members and all(shard_of(m, SHARDS) == k.shard for m in members)
    # Nothing under the single shard's names.
    assert await redis.exists(Keys(hot.keys.prefix).scheduled) == 0
    assert (await hot.counts())["pending"] == 61
    assert set(await hot.events(ids)) == set(ids)
    assert set(await hot.states(ids)) == set(ids)
    assert (await hot.get("e7") or ("", None))[0] == "pending"
    assert 4 < (await hot.due_in() or 0) <= 5  # by Redis's clock: the earliest of all shards
    after = await hot.pending_after(now + 10, 100)
    assert len(after) == 60 and after == sorted(after, key=lambda p: (p[1], p[0]))


async def test_claims_take_from_every_shard_and_ack_release_cancel_route_by_id(
    hot: HotStore,
) -> None:
    now = time.time()
    ids = [f"c{i}" for i in range(30)]
    await hot.schedule([ev(i, now - 1) for i in ids])
    first = await hot.claim(100, 30)
    second = await hot.claim(100, 30)
    third = await hot.claim(100, 30)
    batches = [first, second, third]
    # One shard per batch, each shard once: none starves behind another.
    shards = [{shard_of(c.event.schedule_id, SHARDS) for c in b.items} for b in batches]
    assert sorted(min(s) for s in shards) == [0, 1, 2] and all(len(s) == 1 for s in shards)
    assert sorted(c.event.schedule_id for b in batches for c in b.items) == sorted(ids)
    # Ack by id: each id's shard checks the token of its own batch.
    assert await hot.ack(first.token, [c.event.schedule_id for c in first.items]) == len(
        first.items
    )
    back = [Release(c.event.schedule_id, 60, True) for c in second.items]
    assert await hot.release(second.token, back) == len(back)
    assert await hot.counts() == {
        "pending": len(back),
        "held": 0,
        "in_flight": len(third.items),
    }
    assert await hot.cancel(back[0].schedule_id) is CancelResult.PENDING
    assert await hot.cancel(third.items[0].event.schedule_id) is CancelResult.IN_FLIGHT
    assert await hot.cancel("never") is CancelResult.UNKNOWN


async def test_reap_returns_expired_leases_of_every_shard(hot: HotStore) -> None:
    now = time.time()
    ids = [f"r{i}" for i in range(12)]
    await hot.schedule([ev(i, now - 1) for i in ids])
    claimed = []
    while batch := (await hot.claim(100, -0.5)).items:  # leases already over
        claimed += batch
    assert len(claimed) == 12
    assert await hot.reap() == 12
    assert (await hot.counts())["pending"] == 12


async def test_pause_and_rate_limit_reach_every_shards_claims(hot: HotStore) -> None:
    now = time.time()
    pauses = PauseControl(hot)
    await hot.schedule([ev(f"p{i}", now - 1) for i in range(9)])
    await pauses.pause(Scope.ALL)
    for _ in range(SHARDS):
        assert (await hot.claim(100, 30)).items == []
    state, _ = await pauses.resume(Scope.ALL)
    assert state.pauses == []
    claimed = 0
    while batch := (await hot.claim(100, 30)).items:
        claimed += len(batch)
    assert claimed == 9
    # A limit of 3/s with a burst of 3 is a 1/s share (burst 1) per shard, reported whole.
    limits = RateLimitControl(hot, {})
    limit = await limits.set("slow", 3, 3)
    assert (limit.limit.rate, limit.limit.burst) == (3, 3)
    await hot.schedule([ev(f"s{i}", now - 1, topic="slow") for i in range(30)])
    taken = 0
    for _ in range(2 * SHARDS):
        taken += len((await hot.claim(100, 30)).items)
    assert taken <= 3 + 1  # the burst overall (plus a token a slow machine may refill)
    assert sum((await hot.throttled()).values()) + taken == 30
    assert await limits.clear("slow")
    assert (await limits.state()).limits == []


async def test_id_locks_across_shards_are_all_or_none(hot: HotStore) -> None:
    ids = [f"l{i}" for i in range(9)]
    assert len({shard_of(i, SHARDS) for i in ids}) == SHARDS
    async with hot.locked_ids(ids):
        with pytest.raises(Exception, match="held the same lock"):
            async with hot.locked_ids([ids[-1], "other"], wait=0.2):
                pass
        # The free id was not left locked by the failed attempt.
        async with hot.locked_ids(["other"], wait=0.2):
            pass


async def test_a_store_with_another_shard_count_refuses(redis: Redis, settings: Settings) -> None:
    prefix = settings.redis_key_prefix
    three = HotStore(redis, Keys(prefix), shards=3)
    await three.check_shards()  # the first records 3
    assert await redis.get(shard_count_key(prefix)) == b"3"
    await three.check_shards()
    await three.schedule([ev("e", time.time() + 60)])
    for other in (1, 2):
        with pytest.raises(ConfigError, match="stored in 3 shard"):
            await HotStore(redis, Keys(prefix), shards=other).check_shards()
    # Drained, the hot tier may change its number of shards.
    assert await three.cancel("e")
    await HotStore(redis, Keys(prefix), shards=2).check_shards()
    assert await redis.get(shard_count_key(prefix)) == b"2"
    await HotStore(redis, Keys(prefix)).check_shards()
    assert await redis.get(shard_count_key(prefix)) is None


async def test_single_shard_data_refuses_several_shards(redis: Redis, settings: Settings) -> None:
    one = HotStore(redis, Keys(settings.redis_key_prefix))
    await one.check_shards()
    await one.schedule([ev("old", time.time() + 60)])
    with pytest.raises(ConfigError, match="stored in 1 shard"):
        await HotStore(redis, Keys(settings.redis_key_prefix), shards=3).check_shards()


async def test_executor_fires_every_shards_events_once(
    hot: HotStore, settings: Settings, start_executor, read_topic, uid: str
) -> None:  # type: ignore[no-untyped-def]
    topic = f"shards-{uid}"
    await ensure_topics(settings, [topic])
    reader = await read_topic(topic)
    outcomes: list[Outcome] = []
    await start_executor(outcomes)
    now = time.time()
    ids = [f"x{i}" for i in range(40)]
    await hot.schedule([ev(sid, now + (n % 4) * 0.3, topic=topic) for n, sid in enumerate(ids)])
    messages = await reader.read(40)
    fired = [dict(m.headers)["schedule_id"].decode() for m in messages]
    assert sorted(fired) == sorted(ids)
    assert await eventually(lambda: _empty(hot))
    assert await eventually(lambda: len(outcomes) == 40)
    assert sorted(o.event.schedule_id for o in outcomes) == sorted(ids)
    assert all(o.executed_at >= o.event.scheduled_at for o in outcomes)  # none early


async def _empty(hot: HotStore) -> bool:
    return await hot.counts() == {"pending": 0, "held": 0, "in_flight": 0}


async def test_a_wake_up_names_the_shard_the_next_claim_starts_at(hot: HotStore) -> None:
    now = time.time()
    ids = [f"w{i}" for i in range(30)]
    await hot.schedule([ev(i, now - 1) for i in ids])
    for k in reversed(hot.shards):
        hot.claim_first(k.wakeup.encode())  # as the executor's subscription gets it
        batch = await hot.claim(100, 30)
        assert {shard_of(c.event.schedule_id, SHARDS) for c in batch.items} == {k.shard}
    hot.claim_first(b"some other channel")  # not a shard's: the rotation goes on
