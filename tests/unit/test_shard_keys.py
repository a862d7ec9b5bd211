"""Shard key names (scheduler.hot.keys): one shard keeps today's names; several each
have one hash tag, so each script call stays in one Redis Cluster slot."""

from __future__ import annotations

import zlib

from redis.crc import key_slot

from scheduler.hot.keys import Keys, shard_keys, shard_of


def _slots(k: Keys) -> set[int]:
    names = [
        *k.script_keys,
        k.level_prefix + "7",
        k.throttled_prefix + "some.topic",
        k.id_lock_prefix + "an-id",
        k.replication,
        k.recurring,
        k.recurring_versions,
        k.recurring_marks,
        k.recurring_occurrences_prefix + "r",
        k.recurring_lock_prefix + "r",
        k.replayed_prefix + "d",
    ]
    return {key_slot(name.encode()) for name in names}


def test_one_shard_keeps_the_runbook_names() -> None:
    (only,) = shard_keys("p:", 1)
    assert only == Keys("p:")
    assert only.scheduled == "p:scheduled_events"
    assert only.payloads == "p:scheduled_events:payload"
    assert only.level_prefix == "p:scheduled_events:level:"


def test_each_shard_has_one_hash_tag() -> None:
    shards = shard_keys("p:", 3)
    assert [k.scheduled for k in shards] == [
        "p:{scheduled_events:0}",
        "p:{scheduled_events:1}",
        "p:{scheduled_events:2}",
    ]
    assert shards[2].payloads == "p:{scheduled_events:2}:payload"
    slots = [_slots(k) for k in shards]
    assert all(len(s) == 1 for s in slots)
    assert len(set().union(*slots)) == 3  # three shards, three slots


def test_an_ids_shard_is_crc32_modulo_n() -> None:
    assert shard_of("anything", 1) == 0
    ids = [f"id-{i}" for i in range(300)]
    assert [shard_of(i, 3) for i in ids] == [zlib.crc32(i.encode()) % 3 for i in ids]
    assert {shard_of(i, 3) for i in ids} == {0, 1, 2}
