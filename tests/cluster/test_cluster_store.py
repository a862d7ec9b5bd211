"""The hot tier in three shards on a real Redis Cluster (three primaries, three
replicas), through the client SCHEDULES_REDIS_CLUSTER selects, with every write waiting
for one replica (SCHEDULES_REDIS_MIN_REPLICAS_ACK=1)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from conftest import eventually
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from scheduler.hot import client
from scheduler.hot.keys import Keys, shard_of
from scheduler.hot.outcome import Outcome
from scheduler.hot.pause import PauseControl, Scope
from scheduler.hot.ratelimit import RateLimitControl
from scheduler.hot.store import CancelResult, HotChange, HotStore, Replication
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings
from tests.cluster.conftest import RedisClusterProcs

SHARDS = 3


def ev(sid: str, at: float, topic: str = "t") -> Event:
    return Event(schedule_id=sid, topic=topic, body=sid.encode(), scheduled_at=at)


@pytest.fixture
def settings(settings: Settings, redis_cluster: RedisClusterProcs) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": redis_cluster.url,
            "redis_cluster": True,
            "redis_shards": SHARDS,
            "redis_min_replicas_ack": 1,
        }
    )


@pytest.fixture
async def store(settings: Settings, redis_cluster: RedisClusterProcs) -> AsyncIterator[HotStore]:
    assert await eventually(redis_cluster.healthy, timeout=60)
    redis = client.connect(settings)
    yield HotStore(
        redis,
        Keys(settings.redis_key_prefix),
        replication=Replication.from_settings(settings),
        shards=SHARDS,
    )
    await redis.aclose()


async def test_shards_spread_over_the_primaries(
    store: HotStore, redis_cluster: RedisClusterProcs
) -> None:
    slots = {key_slot(k.scheduled.encode()) for k in store.shards}
    assert len(slots) == SHARDS
    await store.check_shards()
    # The three shards' tags fall on more than one primary (a cluster that spreads them).
    assert len({redis_cluster.primary_of(k.scheduled) for k in store.shards}) > 1


async def test_every_operation_works_across_the_cluster(store: HotStore) -> None:
    now = time.time()
    ids = [f"c{i}" for i in range(60)]
    assert await store.schedule([ev(i, now - 1) for i in ids]) == [True] * 60
    assert await store.schedule([ev("c0", now)]) == [False]
    assert (await store.counts())["pending"] == 60
    assert set(await store.states(ids)) == set(ids)
    window = await store.pending_window((0, ""), None, 100)
    assert sorted(sid for _, sid, _ in window) == sorted(ids)
    assert await store.count_window(None, None) == 60
    # The executor's wait for the head, by the clock of Redis (each shard's node's).
    assert -2 < (await store.due_in() or 0) < 0
    # Claims take every shard in turn; acks and releases find each id's shard.
    claimed = []
    while batch := await store.claim(100, -0.5):  # leases already over: reaped below
        if not batch.items:
            break
        assert len({shard_of(c.event.schedule_id, SHARDS) for c in batch.items}) == 1
        claimed.append(batch)
    assert sorted(c.event.schedule_id for b in claimed for c in b.items) == sorted(ids)
    assert len(claimed) == SHARDS
    first, *rest = claimed
    assert await store.ack(first.token, [c.event.schedule_id for c in first.items]) == len(
        first.items
    )
    keys, _ = await store.in_flight_keys(100)
    assert len(keys) == 60 - len(first.items)
    assert await store.cancel(rest[0].items[0].event.schedule_id) is CancelResult.IN_FLIGHT
    assert await store.reap() == 60 - len(first.items) - 1
    # Reschedule and cancel of pending events, each in its own shard.
    sid = rest[1].items[0].event.schedule_id
    assert await store.reschedule(ev(sid, now + 3600)) is HotChange.RESCHEDULED
    assert (await store.get(sid) or ("", None))[1].scheduled_at == pytest.approx(now + 3600)  # type: ignore[union-attr]
    assert await store.cancel(sid) is CancelResult.PENDING
    async with store.locked_ids(ids):
        pass
    assert await store.sweep_orphans() == 0


async def test_a_backlog_claim_is_several_calls_under_one_token(store: HotStore) -> None:
    # More due in one shard than one claim script call takes: the calls for the rest go
    # in one round trip to that shard's primary (each confirmed by a replica), continue
    # the first call's token, and one ack forgets them all.
    now = time.time()
    ids = [sid for sid in (f"b{i}" for i in range(4000)) if shard_of(sid, SHARDS) == 0][:1200]
    assert all(await store.schedule([ev(sid, now - 1) for sid in ids]))
    store.claim_first(store.shards[0].wakeup)
    batch = await store.claim(2000, 30)
    assert sorted(c.event.schedule_id for c in batch.items) == sorted(ids)
    assert await store.ack(batch.token, [c.event.schedule_id for c in batch.items]) == len(ids)
    assert (await store.counts())["in_flight"] == 0


async def test_pauses_and_limits_reach_every_shard(store: HotStore) -> None:
    now = time.time()
    await store.schedule([ev(f"p{i}", now - 1) for i in range(9)])
    pauses = PauseControl(store)
    await pauses.pause(Scope.ALL)
    for _ in range(SHARDS):
        assert (await store.claim(100, 30)).items == []
    await pauses.resume(Scope.ALL)
    limits = RateLimitControl(store, {})
    assert (await limits.set("t", 3, 3)).limit.rate == 3
    taken = 0
    for _ in range(2 * SHARDS):
        taken += len((await store.claim(100, 30)).items)
    assert taken <= 3 + 1
    assert await limits.clear("t")


async def test_an_executor_fires_every_shards_events(
    store: HotStore, settings: Settings, start_executor, read_topic, uid: str
) -> None:  # type: ignore[no-untyped-def]
    topic = f"cluster-{uid}"
    await ensure_topics(settings, [topic])
    reader = await read_topic(topic)
    outcomes: list[Outcome] = []
    await start_executor(outcomes)
    now = time.time()
    ids = [f"x{i}" for i in range(30)]
    await store.schedule([ev(sid, now + 0.5 + (n % 3) * 0.3, topic) for n, sid in enumerate(ids)])
    messages = await reader.read(30)
    assert sorted(dict(m.headers)["schedule_id"].decode() for m in messages) == sorted(ids)
    assert await eventually(lambda: len(outcomes) == 30)
    assert all(o.executed_at >= o.event.scheduled_at for o in outcomes)


async def test_a_wake_up_reaches_a_sleeping_executor_on_a_cluster(
    store: HotStore, settings: Settings, start_executor, read_topic, uid: str
) -> None:  # type: ignore[no-untyped-def]
    topic = f"wake-{uid}"
    await ensure_topics(settings, [topic])
    reader = await read_topic(topic)
    await store.schedule([ev("far", time.time() + 3600, topic)])
    await start_executor(idle_interval=30.0)  # would otherwise sleep 30 s

    async def listening() -> bool:
        # Every shard's channel has the executor's subscription on some node.
        found = await store.redis.pubsub_numsub(
            *(k.wakeup for k in store.shards),
            target_nodes=RedisCluster.ALL_NODES,  # type: ignore[call-arg]
        )
        counts = dict(found)  # summed over the nodes
        return len(counts) == SHARDS and all(counts.values())

    assert await eventually(listening, timeout=20)
    at = time.time() + 0.2
    await store.schedule([ev("soon", at, topic)])  # in its shard: that shard's wake-up
    (msg,) = await reader.read(1, timeout=10)  # far below the 30 s idle wait
    assert dict(msg.headers)["schedule_id"] == b"soon"


async def test_the_head_is_timed_by_the_shards_primary(store: HotStore) -> None:
    assert await store.due_in() is None
    await store.schedule([ev("later", time.time() + 10), ev("sooner", time.time() + 5)])
    assert 3 < (await store.due_in() or 0) <= 5  # by Redis's clock, the earliest shard
