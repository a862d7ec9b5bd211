"""The hot tier on a primary and a replica behind three Sentinels: the clients follow a
failover, and a write the replicas do not acknowledge is an error, never a success."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from conftest import PrivateRedis, eventually
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from scheduler import metrics
from scheduler.errors import NotReplicated, ServiceUnavailable
from scheduler.hot import client
from scheduler.hot.keys import Keys
from scheduler.hot.pause import PauseControl, Scope
from scheduler.hot.store import HotStore, Replication
from scheduler.models import Event
from scheduler.settings import Settings
from tests.replication.conftest import MASTER, ReplicatedRedis

MakeStore = Callable[..., HotStore]


def sentinel_settings(cluster: ReplicatedRedis, uid: str, **values: Any) -> Settings:
    env = cluster.env()
    return Settings(
        redis_url=env["REDIS_URL"],
        redis_sentinels=env["SCHEDULES_REDIS_SENTINELS"],
        redis_sentinel_master=env["SCHEDULES_REDIS_SENTINEL_MASTER"],
        redis_key_prefix=f"t{uid}:",
        **values,
    )


@pytest.fixture
async def make_store(replicated_redis: ReplicatedRedis, uid: str) -> AsyncIterator[MakeStore]:
    assert await eventually(replicated_redis.replicas_in_sync, timeout=30)
    stores: list[HotStore] = []

    def make(**values: Any) -> HotStore:
        s = sentinel_settings(replicated_redis, uid, **values)
        store = HotStore(
            client.connect(s), Keys(s.redis_key_prefix), replication=Replication.from_settings(s)
        )
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.redis.aclose()


def events(prefix: str, n: int, at: float | None = None) -> list[Event]:
    at = time.time() + 3600 if at is None else at
    return [
        Event(schedule_id=f"{prefix}{i}", topic="t", body=b"x", scheduled_at=at) for i in range(n)
    ]


async def test_clients_follow_a_failover_and_keep_what_was_replicated(
    replicated_redis: ReplicatedRedis, make_store: MakeStore, uid: str
) -> None:
    hot = make_store(redis_min_replicas_ack=1)
    before = events("before-", 200)
    assert await hot.schedule(before) == [True] * 200

    old = replicated_redis.kill_primary()
    assert await eventually(lambda: replicated_redis.promoted(old), timeout=30)
    replicated_redis.restart_as_replica(old)

    async def writes_again() -> bool:
        try:
            return await hot.schedule(events("after-", 1)) == [True]
        except Exception:  # the old primary's connections fail until the new one answers
            return False

    assert await eventually(writes_again, timeout=30)
    assert len(await hot.events([ev.schedule_id for ev in before])) == 200
    assert (await hot.counts())["pending"] == 201
    # The scrape's blocking client finds the new primary as well.
    s = sentinel_settings(replicated_redis, uid)
    blocking = client.connect_blocking(s)
    try:
        assert blocking.zcard(hot.keys.scheduled) == 201
        assert blocking.info("replication")["role"] == "master"
    finally:
        blocking.close()


async def test_clients_follow_a_switch_over_to_the_replica(
    replicated_redis: ReplicatedRedis, make_store: MakeStore
) -> None:
    """SENTINEL FAILOVER demotes a live primary: connections still open to it get
    READONLY, which sends them back to the Sentinels for the new primary."""
    hot = make_store(redis_min_replicas_ack=1)
    assert await hot.schedule(events("before-", 50)) == [True] * 50
    old = replicated_redis.primary_port
    sentinel = Redis(port=replicated_redis.sentinels[0].port)
    try:
        assert await sentinel.execute_command("SENTINEL", "FAILOVER", MASTER)
    finally:
        await sentinel.aclose()
    assert await eventually(lambda: replicated_redis.promoted(old), timeout=30)

    async def writes_again() -> bool:
        try:
            return await hot.schedule(events("after-", 1)) == [True]
        except Exception:  # READONLY (as ConnectionError) until the pool reconnected
            return False

    assert await eventually(writes_again, timeout=30)
    info = await hot.redis.info("replication")
    assert info["role"] == "master" and info["connected_slaves"] == 1
    assert (await hot.counts())["pending"] == 51


async def test_a_write_the_replicas_do_not_acknowledge_is_an_error(
    replicated_redis: ReplicatedRedis, make_store: MakeStore
) -> None:
    refused = metrics.REDIS_WRITES_UNREPLICATED._value.get()
    # One replica cannot make two acknowledgements.
    two = make_store(redis_min_replicas_ack=2, redis_replica_ack_timeout=0.2)
    with pytest.raises(NotReplicated, match=r"only 1 of the 2 Redis replicas required"):
        await two.schedule(events("two-", 1))
    assert metrics.REDIS_WRITES_UNREPLICATED._value.get() == refused + 1

    one = make_store(redis_min_replicas_ack=1, redis_replica_ack_timeout=0.2)
    assert await one.schedule(events("one-", 1)) == [True]
    replicated_redis.stop_replica()
    due = events("due-", 3, at=time.time() - 1)
    for write in (
        lambda: one.schedule(due),
        lambda: one.claim(10, 30),
        lambda: one.cancel("one-0"),
        lambda: PauseControl(one).pause(Scope.ALL),
    ):
        with pytest.raises(NotReplicated, match="SCHEDULES_REDIS_MIN_REPLICAS_ACK") as err:
            await write()
        assert "only 0 of the 1" in str(err.value)
    # Without the option the same Redis takes writes as before.
    assert await make_store().schedule(events("plain-", 1)) == [True]

    # A write refused that way may be on the primary alone; once a replica is back, its
    # retry is confirmed (and, schedule_id being the key, stores nothing twice).
    replicated_redis.start_replica()

    async def confirmed() -> bool:
        try:
            await one.schedule(due)
        except NotReplicated:
            return False
        return True

    assert await eventually(confirmed, timeout=30)
    assert set(await one.events([ev.schedule_id for ev in due])) == {"due-0", "due-1", "due-2"}


async def test_a_primary_without_the_scripts_gets_them_and_nothing_runs_twice(
    private_redis: PrivateRedis, uid: str
) -> None:
    """A newly promoted primary may not have the scripts cached (nor a restarted one):
    the calls Redis did not know are sent again after loading them, the others not."""
    s = Settings(redis_url=private_redis.url, redis_key_prefix=f"t{uid}:")
    hot = HotStore(client.connect(s), Keys(s.redis_key_prefix))
    try:
        assert await hot.schedule(events("a-", 1)) == [True]
        await hot.redis.script_flush()
        k = hot.keys
        # Another store's script, registered on the same client, goes the same way.
        other = hot.redis.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        # A command Redis knows, then script calls it does not.
        replies = await hot.write(
            ("INCR", k.fence),
            hot.script("cancel", k.script_keys, [k.level_prefix, "a-0", k.throttled_prefix]),
            hot.script(other, [k.fence], [10]),
            hot.script("cancel", k.script_keys, [k.level_prefix, "a-0", k.throttled_prefix]),
        )
        assert replies == [1, b"pending", 11, b"unknown"]
        assert await hot.redis.get(k.fence) == b"11"  # the INCR was not sent again
    finally:
        await hot.redis.aclose()


async def test_one_command_alone_is_reloaded_sent_again_and_refused_alike(
    private_redis: PrivateRedis, uid: str
) -> None:
    """One command without WAIT goes without a pipeline: a script Redis does not know is
    still loaded and sent again, and an error reply is still raised."""
    s = Settings(redis_url=private_redis.url, redis_key_prefix=f"t{uid}:")
    hot = HotStore(client.connect(s), Keys(s.redis_key_prefix))
    try:
        await hot.redis.script_flush()
        assert await hot.schedule(events("one-", 1)) == [True]
        assert await hot.schedule(events("one-", 1)) == [False]
        await hot.redis.script_flush()
        k = hot.keys
        cancel = hot.script("cancel", k.script_keys, [k.level_prefix, "one-0", k.throttled_prefix])
        assert await hot.write(cancel) == [b"pending"]
        await hot.write(("SET", k.fence, "not a number"))
        with pytest.raises(ResponseError, match="not an integer"):
            await hot.write(("INCR", k.fence))
    finally:
        await hot.redis.aclose()


async def test_a_write_to_a_replica_is_a_clear_unavailability(
    replicated_redis: ReplicatedRedis, uid: str
) -> None:
    """A single REDIS_URL that leads to a replica (a failover behind a DNS name): the
    write is refused as ServiceUnavailable (503, retried by the loops), not a crash."""
    assert await eventually(replicated_redis.replicas_in_sync, timeout=30)
    url = f"redis://127.0.0.1:{replicated_redis.replica_port}/0"
    s = Settings(redis_url=url, redis_key_prefix=f"t{uid}:")
    hot = HotStore(client.connect(s), Keys(s.redis_key_prefix))
    try:
        with pytest.raises(ServiceUnavailable, match="read-only replica"):
            await hot.schedule(events("r-", 1))
        with pytest.raises(ServiceUnavailable, match="read-only replica"):
            await PauseControl(hot).pause(Scope.ALL)
    finally:
        await hot.redis.aclose()
