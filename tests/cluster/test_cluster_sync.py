"""The sync between the cold tier (embedded ClickHouse) and a hot tier in three shards on
a Redis Cluster: due-soon events move into their shards, and back out when the horizon
is lowered."""

from __future__ import annotations

import time

from cold.test_sync import by_status, events, put_cold
from unit.fakes import sync_config

from scheduler.cold.store import ColdStore
from scheduler.cold.sync import sync
from scheduler.hot.keys import shard_of
from scheduler.hot.store import HotStore
from tests.cluster.test_cluster_store import SHARDS, settings, store

__all__ = ["settings", "store"]


async def test_sync_moves_events_into_every_shard_and_back(
    cold: ColdStore, store: HotStore
) -> None:
    now = time.time()
    await put_cold(cold, store, events(300, now + 600))
    window = sync_config(
        immediate_horizon_seconds=3600, transfer_horizon_seconds=900, batch_size=100
    )
    result = await sync(cold, store, window, now=now)
    assert result.transferred == 300
    assert await by_status(cold) == {"transferred": 300}
    assert (await store.counts())["pending"] == 300
    for k in store.shards:
        members = [m.decode() for m in await store.redis.zrange(k.scheduled, 0, -1)]
        assert members and {shard_of(m, SHARDS) for m in members} == {k.shard}
    # The horizon lowered below their time: every shard's events go back to ClickHouse.
    lowered = sync_config(immediate_horizon_seconds=300, transfer_horizon_seconds=300)
    result = await sync(cold, store, lowered, now=now)
    assert result.demoted == 300
    assert await store.counts() == {"pending": 0, "held": 0, "in_flight": 0}
    assert await by_status(cold) == {"pending": 300}
