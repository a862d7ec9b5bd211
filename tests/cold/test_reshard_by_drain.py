"""Changing the number of shards by draining (docs/scaling.md, 'Changing the number of
shards'): the sync demotes the hot tier's events to ClickHouse under a lowered horizon,
the new number of shards is then accepted, and the sync brings every event back, each
into its shard of the new layout; nothing is lost."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis
from unit.fakes import sync_config

from cold.test_sync import by_status, events, put_cold
from scheduler.cold.store import ColdStore
from scheduler.cold.sync import sync
from scheduler.errors import ConfigError
from scheduler.hot.keys import Keys, shard_count_key, shard_of
from scheduler.hot.store import HotStore
from scheduler.settings import Settings


async def test_drain_then_change_the_number_of_shards(
    cold: ColdStore, redis: Redis, settings: Settings
) -> None:
    prefix = settings.redis_key_prefix
    three = HotStore(redis, Keys(prefix), shards=3)
    await three.check_shards()
    now = time.time()
    await put_cold(cold, three, events(200, now + 1200))
    window = sync_config(immediate_horizon_seconds=3600, transfer_horizon_seconds=1800)
    assert (await sync(cold, three, window, now=now)).transferred == 200
    five = HotStore(redis, Keys(prefix), shards=5)
    with pytest.raises(ConfigError, match="stored in 3 shard"):
        await five.check_shards()

    # 1. The horizon lowered: the sync demotes every event due later than it.
    lowered = sync_config(immediate_horizon_seconds=300, transfer_horizon_seconds=300)
    assert (await sync(cold, three, lowered, now=now)).demoted == 200
    assert await three.counts() == {"pending": 0, "held": 0, "in_flight": 0}
    # 2. Drained: the new number is accepted and recorded.
    await five.check_shards()
    assert await redis.get(shard_count_key(prefix)) == b"5"
    # 3. The horizon back: the sync brings them into the five shards.
    assert (await sync(cold, five, window, now=now)).transferred == 200
    assert await by_status(cold) == {"transferred": 200}
    assert (await five.counts())["pending"] == 200
    for k in five.shards:
        members = [m.decode() for m in await redis.zrange(k.scheduled, 0, -1)]
        assert {shard_of(m, 5) for m in members} <= {k.shard}
    for k in five.shards:  # no payload without its pending entry
        assert await redis.hlen(k.payloads) == await redis.zcard(k.scheduled)
