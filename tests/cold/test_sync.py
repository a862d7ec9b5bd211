"""The sync: ClickHouse -> Redis when due soon, back when the horizon is lowered; crash
safety; cancels that must stay cancelled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from conftest import eventually
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from unit.fakes import sync_config

from devstack.services import free_port, start_redis
from scheduler.cold.records import FIRST_VERSION, Status, Tier, row
from scheduler.cold.store import ColdStore
from scheduler.cold.sync import sync
from scheduler.cold.transfer import claim, move_to_hot
from scheduler.hot.keys import Keys
from scheduler.hot.store import CancelResult, HotStore, Release
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.router import Router
from scheduler.service import SchedulerService
from scheduler.settings import Settings

WINDOW = sync_config(immediate_horizon_seconds=3600, transfer_horizon_seconds=600, batch_size=100)


def events(n: int, at: float, topic: str = "t", prefix: str = "e") -> list[Event]:
    return [
        Event(
            schedule_id=f"{prefix}{i}",
            topic=topic,
            body=f"b{i}".encode(),
            scheduled_at=at + i / 1000,
        )
        for i in range(n)
    ]


async def put_cold(cold: ColdStore, hot: HotStore, evs: list[Event]) -> None:
    """Store as the router stores cold events (due dates in the past included)."""
    await cold.write([row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION) for ev in evs])


async def by_status(cold: ColdStore) -> dict[str, int]:
    return {k: v for k, v in (await cold.count_by_status(list(Status))).items() if v}


async def test_long_term_event_goes_cold_then_hot_and_fires_once(
    hybrid_settings: Settings, cold: ColdStore, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    s = hybrid_settings.model_copy(
        update={
            "immediate_horizon_seconds": 2.0,
            "transfer_horizon_seconds": 1.5,
            "clickhouse_sync_interval": 0.3,
        }
    )
    await ensure_topics(s, [topic, s.delayed_topic, s.dead_letter_topic])
    service = SchedulerService(s)
    await service.start(roles=["executor", "sync"])
    try:
        reader = await read_topic(topic)
        # Absolute times: however long scheduling the 20 takes on a loaded machine, each
        # is due where the test says (a delay computed per call could fall inside the
        # 2 s horizon and go hot).
        due = time.time() + 6.0
        ids = [
            await service.schedule_event(
                topic=topic,
                body=f"later-{i}",
                scheduled_at=datetime.fromtimestamp(due + i * 0.05, UTC),
            )
            for i in range(20)
        ]
        rows = await cold.find(ids)
        assert {r.status for r in rows} == {Status.PENDING}  # beyond the 2 s horizon
        await reader.read(20, timeout=30)
        messages = await reader.settle(1.0)
        fired = Counter(dict(m.headers)["schedule_id"].decode() for m in messages)
        assert fired == dict.fromkeys(ids, 1)
        assert min(m.timestamp / 1000 for m in messages) >= due - 0.01  # none early
        assert service.runtime.journal is not None
        await service.runtime.journal.flush()
        assert await by_status(cold) == {"executed": 20}
        results = await cold.ch.query(
            "SELECT status, count() AS n FROM schedule_execution_results GROUP BY status"
        )
        assert results == [{"status": "success", "n": 20}]
        status = await service.get_status(ids[0])
        assert status is not None and (status.status, status.attempts) == ("executed", 1)
    finally:
        await service.stop()


async def test_sync_moves_only_what_is_due_in_bounded_batches(
    cold: ColdStore, hot: HotStore
) -> None:
    now = time.time()
    await put_cold(cold, hot, events(250, now + 300) + events(40, now + 5000, prefix="late"))
    result = await sync(cold, hot, WINDOW, max_events=120)
    assert (result.transferred, result.batches) == (120, 2)
    assert result.seconds > 0
    last = REGISTRY.get_sample_value("schedules_sync_last_success_timestamp_seconds")
    assert last is not None and last >= now  # what an operator's "sync stalled" alert reads
    result = await sync(cold, hot, WINDOW)
    assert (result.transferred, result.batches) == (130, 2)
    assert (await sync(cold, hot, WINDOW)).transferred == 0
    assert await by_status(cold) == {"transferred": 250, "pending": 40}
    assert (await hot.counts())["pending"] == 250
    got = await hot.get("e7")
    assert got is not None and got[1].body == b"b7"


async def test_crash_between_claim_and_redis_then_rerun(cold: ColdStore, hot: HotStore) -> None:
    now = time.time()
    await put_cold(cold, hot, events(300, now + 60))
    first = await cold.due(int((now + 600) * 1e6), 100)
    await claim(cold, first, int(time.time() * 1e6))  # ... and the process dies here
    second = await cold.due(int((now + 600) * 1e6), 100)
    await claim(cold, second, int(time.time() * 1e6))
    await hot.schedule([s.event for s in second])  # ... or here, before 'transferred'
    assert await by_status(cold) == {"pending": 100, "processing": 200}

    result = await sync(cold, hot, WINDOW)
    assert (result.resolved, result.transferred) == (200, 100)
    assert await by_status(cold) == {"transferred": 300}
    assert (await hot.counts())["pending"] == 300  # each once
    assert (await sync(cold, hot, WINDOW)).transferred == 0


async def test_processing_rows_that_may_have_fired_wait_for_the_timeout(
    cold: ColdStore, hot: HotStore
) -> None:
    now = time.time()
    await put_cold(cold, hot, events(3, now - 5))  # overdue: they could have fired
    batch = await cold.due(int(now * 1e6), 10)
    await claim(cold, batch[:2], int(time.time() * 1e6))  # just claimed
    await claim(cold, batch[2:], int((time.time() - 7200) * 1e6))  # two hours ago
    result = await sync(cold, hot, WINDOW)
    assert result.resolved == 1  # the stale one; the fresh ones might be firing now
    assert await by_status(cold) == {"processing": 2, "transferred": 1}


async def test_crash_of_redis_mid_sync_then_rerun(
    cold: ColdStore, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    proc = start_redis(port, tmp_path / "redis")
    redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    hot = HotStore(redis, Keys(settings.redis_key_prefix))
    try:
        now = time.time()
        n = 5000
        await put_cold(cold, hot, events(n, now + 120))
        config = sync_config(
            immediate_horizon_seconds=3600, transfer_horizon_seconds=600, batch_size=200
        )
        running = asyncio.create_task(sync(cold, hot, config))
        watcher = Redis.from_url(f"redis://127.0.0.1:{port}/0")
        await eventually(lambda: _has_at_least(watcher, hot.keys.scheduled, 1000), timeout=30)
        await watcher.aclose()
        proc.stop()  # SIGTERM: Redis writes its AOF and goes away mid-sync
        try:
            await running
        except Exception:
            pass
        else:
            raise AssertionError("the sync should have failed with Redis gone")
        proc = start_redis(port, tmp_path / "redis")  # same AOF: what was stored is back
        await redis.aclose()
        redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
        hot = HotStore(redis, Keys(settings.redis_key_prefix))
        result = await sync(cold, hot, config)
        assert result.transferred + result.resolved > 0
        assert await by_status(cold) == {"transferred": n}
        assert await hot.counts() == {"pending": n, "held": 0, "in_flight": 0}
    finally:
        await redis.aclose()
        proc.stop()


async def _has_at_least(redis: Redis, key: str, n: int) -> bool:
    return await redis.zcard(key) >= n


async def test_demotion_when_the_horizon_is_lowered(cold: ColdStore, hot: HotStore) -> None:
    now = time.time()
    near = Event(schedule_id="near", topic="t", body=b"n", scheduled_at=now + 600)
    mid = Event(schedule_id="mid", topic="t", body=b"m", scheduled_at=now + 1800, priority=5)
    far = Event(schedule_id="far", topic="t", body=b"f", scheduled_at=now + 3000, priority=-2)
    stored = await Router(hot, 3600, cold=cold).store([near, mid, far], now)
    assert all(s.added for s in stored)

    # A retry backing off past the horizon is not "due beyond it": it stays in Redis.
    await hot.schedule([Event(schedule_id="retrying", topic="t", body=b"r", scheduled_at=now - 1)])
    claimed = await hot.claim(1, 30)
    await hot.release(claimed.token, [Release("retrying", 2000, True)])

    lowered = sync_config(immediate_horizon_seconds=900, transfer_horizon_seconds=3600)
    result = await sync(cold, hot, lowered, now=now)
    assert result.demoted == 2
    assert await hot.counts() == {"pending": 2, "held": 0, "in_flight": 0}
    assert await hot.get("mid") is None and await hot.get("far") is None
    assert await hot.redis.zcard(hot.keys.levels) == 0  # priority levels emptied too
    rows = {r.event.schedule_id: r for r in await cold.find(["near", "mid", "far"])}
    assert {k: (r.status.value, r.tier.value) for k, r in rows.items()} == {
        "near": ("transferred", "hot"),
        "mid": ("pending", "cold"),
        "far": ("pending", "cold"),
    }
    assert rows["mid"].event.priority == 5 and rows["mid"].event.body == b"m"

    # 20 minutes later the sync brings "mid" back (window = the lowered horizon).
    result = await sync(cold, hot, lowered, now=now + 1200)
    assert (result.transferred, result.demoted) == (1, 0)
    back = await hot.get("mid")
    assert back is not None and back[1].priority == 5
    assert (await cold.find(["mid"]))[0].status is Status.TRANSFERRED


async def test_cancelled_cold_event_is_never_resurrected(cold: ColdStore, hot: HotStore) -> None:
    from scheduler.cold.cancel import cancel_schedule

    now = time.time()
    await put_cold(cold, hot, events(3, now + 60))
    assert await cancel_schedule(cold, hot, "e0") is CancelResult.PENDING
    # e1: a sync claimed it, then the cancel came, then the sync moved it into Redis.
    batch = [s for s in await cold.due(int((now + 600) * 1e6), 10) if s.event.schedule_id == "e1"]
    await claim(cold, batch, int(time.time() * 1e6))
    assert await cancel_schedule(cold, hot, "e1") is CancelResult.PENDING
    moved = await move_to_hot(cold, hot, batch)
    assert (moved.transferred, moved.cancelled) == (0, 1)
    assert await hot.get("e1") is None
    result = await sync(cold, hot, WINDOW)
    assert result.transferred == 1  # only e2
    assert await hot.get("e0") is None and await hot.get("e1") is None
    assert await by_status(cold) == {"cancelled": 2, "transferred": 1}
    # e2 is hot now: cancelling it there is journaled too.
    assert await cancel_schedule(cold, hot, "e2") is CancelResult.PENDING
    assert await by_status(cold) == {"cancelled": 3}
    assert (await sync(cold, hot, WINDOW)).transferred == 0


async def test_another_schedule_with_the_same_id_in_redis_is_not_doubled(
    cold: ColdStore, hot: HotStore
) -> None:
    now = time.time()
    await put_cold(
        cold, hot, [Event(schedule_id="dup", topic="t", body=b"cold", scheduled_at=now + 60)]
    )
    await hot.schedule([Event(schedule_id="dup", topic="t", body=b"hot", scheduled_at=now + 30)])
    result = await sync(cold, hot, WINDOW)
    assert (result.transferred, result.duplicates) == (0, 1)
    (row,) = await cold.find(["dup"])
    assert row.status is Status.SKIPPED and row.error is not None
    got = await hot.get("dup")
    assert got is not None and got[1].body == b"hot"
