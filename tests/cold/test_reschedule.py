"""Reschedule in and across both tiers (real Redis, Kafka broker and chdb): what each
tier holds afterwards, the status life cycle, finished schedules, and a sync racing the
reschedules."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import eventually
from prometheus_client import REGISTRY

from scheduler.cold.records import (
    Schedule,
    Status,
    Tier,
    change_version,
    row,
    superseded_version,
)
from scheduler.cold.store import ColdStore
from scheduler.errors import ScheduleConflict, UnknownSchedule
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.rescheduling import Rescheduled
from scheduler.service import SchedulerService
from scheduler.settings import Settings

DAY = 86400.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(round(time.time() + seconds, 3), UTC)


@pytest.fixture
async def service(hybrid_settings: Settings) -> AsyncIterator[SchedulerService]:
    s = SchedulerService(hybrid_settings)
    await s.start()
    yield s
    await s.stop()


async def rows(cold: ColdStore, sid: str) -> dict[datetime, Schedule]:
    return {s.event.scheduled_at_datetime: s for s in await cold.find([sid])}


async def test_cold_to_cold_writes_the_new_time_and_retires_the_old_one(
    service: SchedulerService, cold: ColdStore, hot: HotStore, uid: str
) -> None:
    first, second = at(2 * DAY), at(3 * DAY)
    sid = await service.schedule_event("t", "old body", scheduled_at=first, schedule_id=uid)
    done = await service.reschedule(sid, scheduled_at=second, body={"new": True}, priority=4)
    assert (done.tier, done.previous_tier) == (Tier.COLD, Tier.COLD)
    assert done.event.scheduled_at_datetime == second
    assert await hot.get(sid) is None
    found = await rows(cold, sid)
    assert found[second].status is Status.PENDING
    assert (found[second].event.body, found[second].event.priority) == (b'{"new":true}', 4)
    assert found[first].status is Status.CANCELLED
    assert found[first].error == f"rescheduled to {second.isoformat()}"
    status = await service.get_status(sid)
    assert status is not None
    assert (status.status, status.tier, status.scheduled_at) == ("pending", "cold", second)


async def test_cold_to_hot_then_it_fires_once_with_the_new_version(
    service: SchedulerService,
    hybrid_settings: Settings,
    cold: ColdStore,
    hot: HotStore,
    start_executor,
    read_topic,
    uid: str,
) -> None:
    topic = f"c2h-{uid}"
    moved = REGISTRY.get_sample_value(
        "schedules_rescheduled_total", {"from_tier": "cold", "to_tier": "hot"}
    )
    await ensure_topics(hybrid_settings, [topic])
    reader = await read_topic(topic)
    sid = await service.schedule_event(topic, "old", scheduled_at=at(2 * DAY), schedule_id=uid)
    soon = at(1)
    done = await service.reschedule(sid, scheduled_at=soon, body="new")
    assert (done.tier, done.previous_tier) == (Tier.HOT, Tier.COLD)
    after = REGISTRY.get_sample_value(
        "schedules_rescheduled_total", {"from_tier": "cold", "to_tier": "hot"}
    )
    assert after == (moved or 0) + 1
    state, ev = await hot.get(sid)  # type: ignore[misc]
    assert (state, ev.body, ev.scheduled_at_datetime) == ("pending", b"new", soon)
    assert (await rows(cold, sid))[soon].status is Status.TRANSFERRED
    status = await service.get_status(sid)
    assert status is not None and (status.status, status.tier) == ("scheduled", "hot")
    # The sync finds nothing left to move: the old time is retired.
    assert (await service.sync_clickhouse_to_redis()).transferred == 0
    await start_executor()
    (fired,) = await reader.read(1)
    assert fired.value == b"new"
    assert dict(fired.headers)["scheduled_at"].decode() == soon.isoformat(timespec="microseconds")
    assert len(await reader.settle(quiet=1.0)) == 1


async def test_hot_to_cold_and_back(
    service: SchedulerService, cold: ColdStore, hot: HotStore, uid: str
) -> None:
    sid = await service.schedule_event("t", "b", delay_seconds=60, schedule_id=uid, priority=3)
    far = at(2 * DAY)
    done = await service.reschedule(sid, scheduled_at=far)
    assert (done.tier, done.previous_tier) == (Tier.COLD, Tier.HOT)
    assert await hot.get(sid) is None
    assert await hot.counts() == {"pending": 0, "held": 0, "in_flight": 0}
    assert (await rows(cold, sid))[far].status is Status.PENDING
    status = await service.get_status(sid)
    assert status is not None and (status.status, status.tier, status.priority) == (
        "pending",
        "cold",
        3,
    )
    near = at(120)
    back = await service.reschedule(sid, scheduled_at=near)
    assert (back.tier, back.previous_tier) == (Tier.HOT, Tier.COLD)
    assert (await hot.get(sid))[0] == "pending"  # type: ignore[index]
    found = await rows(cold, sid)
    assert found[far].status is Status.CANCELLED
    assert found[near].status is Status.TRANSFERRED
    live = [s for s in found.values() if s.status in (Status.PENDING, Status.TRANSFERRED)]
    assert len(live) == 1


async def test_a_time_the_id_had_before_is_stored_one_microsecond_later(
    service: SchedulerService, cold: ColdStore, uid: str
) -> None:
    t1, t2 = at(2 * DAY), at(3 * DAY)
    sid = await service.schedule_event("t", "b", scheduled_at=t1, schedule_id=uid)
    await service.reschedule(sid, scheduled_at=t2)
    done = await service.reschedule(sid, scheduled_at=t1)
    assert done.event.scheduled_at_datetime == t1 + timedelta(microseconds=1)
    found = await rows(cold, sid)
    assert [found[t].status for t in sorted(found)] == [
        Status.CANCELLED,
        Status.PENDING,
        Status.CANCELLED,
    ]
    # The same request again changes nothing (a retry is harmless).
    again = await service.reschedule(sid, scheduled_at=t1 + timedelta(microseconds=1))
    assert again.changed is False


async def test_finished_and_unknown_schedules_are_refused(
    service: SchedulerService, hybrid_settings: Settings, start_executor, read_topic, uid: str
) -> None:
    with pytest.raises(UnknownSchedule):
        await service.reschedule(f"none-{uid}", delay_seconds=5)
    cold_id = await service.schedule_event("t", "b", scheduled_at=at(2 * DAY))
    await service.cancel_event(cold_id)
    with pytest.raises(ScheduleConflict, match="already cancelled") as refused:
        await service.reschedule(cold_id, delay_seconds=5)
    assert refused.value.state == "cancelled"

    topic = f"fin-{uid}"
    await ensure_topics(hybrid_settings, [topic])
    reader = await read_topic(topic)
    outcomes: list[Any] = []
    await start_executor(outcomes)
    fired = await service.schedule_event(topic, "now", delay_seconds=0)
    await reader.read(1)
    # The executor's outcome reaches ClickHouse through a journal; this service saw the
    # event leave Redis: in flight, or executed once the outcome is written.
    with pytest.raises(ScheduleConflict) as refused:
        await service.reschedule(fired, delay_seconds=60)
    assert refused.value.state in ("in_flight", "executed")


async def test_a_sync_racing_reschedules_never_loses_or_doubles_an_event(
    hybrid_settings: Settings,
    cold: ColdStore,
    hot: HotStore,
    start_executor,
    read_topic,
    uid: str,
) -> None:
    """Cold events inside the sync's window are rescheduled (to the cold tier, and into
    Redis) while syncs move them: each fires exactly once, at the time of the version
    the answer names (the old time when the reschedule was refused), never early."""
    topic = f"sync-race-{uid}"
    await ensure_topics(hybrid_settings, [topic])
    reader = await read_topic(topic)
    # The API's view: beyond 2 s is the cold tier. The sync's: a 60 s window.
    api = SchedulerService(hybrid_settings.model_copy(update={"immediate_horizon_seconds": 2}))
    syncer = SchedulerService(
        hybrid_settings.model_copy(
            update={"immediate_horizon_seconds": 60, "transfer_horizon_seconds": 60}
        )
    )
    await api.start()
    await syncer.start()
    try:
        n = 30
        old = {f"{uid}-{i}": at(4 + i * 0.05) for i in range(n)}
        for sid, t in old.items():
            await api.schedule_event(topic, sid, scheduled_at=t, schedule_id=sid)
        tiers = [getattr(await api.get_status(sid), "tier", None) for sid in old]
        assert set(tiers) == {"cold"}
        answers: dict[str, Rescheduled | ScheduleConflict] = {}

        async def reschedule(i: int, sid: str) -> None:
            # Alternately into Redis (1 s from now) and later in the cold tier (+3 s).
            target = at(1) if i % 2 else old[sid] + timedelta(seconds=3)
            try:
                answers[sid] = await api.reschedule(sid, scheduled_at=target, body="new")
            except ScheduleConflict as exc:
                answers[sid] = exc

        async def syncs() -> None:
            for _ in range(3):
                await syncer.sync_clickhouse_to_redis()

        await asyncio.gather(syncs(), *(reschedule(i, sid) for i, sid in enumerate(old)))
        await start_executor()
        records = await reader.read(n, timeout=30)

        async def all_fired() -> bool:
            await syncer.sync_clickhouse_to_redis()  # the cold ones come due
            return len(await reader.settle(quiet=0.5)) >= n

        assert await eventually(all_fired, timeout=30, interval=0.5)
        records = await reader.settle(quiet=1.5)
    finally:
        await api.stop()
        await syncer.stop()
    by_id: dict[str, list[Any]] = {}
    for rec in records:
        by_id.setdefault(dict(rec.headers)["schedule_id"].decode(), []).append(rec)
    assert sorted(by_id) == sorted(old)
    for sid, recs in by_id.items():
        assert len(recs) == 1, (sid, [r.value for r in recs])
        (rec,) = recs
        header_at = datetime.fromisoformat(dict(rec.headers)["scheduled_at"].decode())
        answer = answers[sid]
        if isinstance(answer, Rescheduled):
            assert (header_at, rec.value) == (answer.event.scheduled_at_datetime, b"new"), sid
        else:
            assert (header_at, rec.value) == (old[sid], sid.encode()), sid
        assert rec.timestamp >= int(header_at.timestamp() * 1000), sid


async def test_replace_through_the_python_api(
    service: SchedulerService, hot: HotStore, uid: str
) -> None:
    sid = await service.schedule_event("t", "first", scheduled_at=at(2 * DAY), schedule_id=uid)
    again = await service.schedule_event(
        "t", "latest", delay_seconds=60, schedule_id=sid, on_conflict="replace"
    )
    assert again == sid
    assert (await hot.get(sid))[1].body == b"latest"  # type: ignore[index]
    status = await service.get_status(sid)
    assert status is not None and (status.status, status.tier) == ("scheduled", "hot")
    busy = await service.schedule_event("t", "now", delay_seconds=0, schedule_id=f"{uid}-busy")
    assert len((await hot.claim(10, 30)).items) == 1
    with pytest.raises(ScheduleConflict, match="in flight"):
        await service.schedule_event(
            "t", "x", delay_seconds=5, schedule_id=busy, on_conflict="replace"
        )


async def test_a_crash_after_the_redis_step_of_a_move_to_the_cold_tier_is_completed_by_the_sync(
    service: SchedulerService, cold: ColdStore, hot: HotStore, uid: str
) -> None:
    """The move hot -> cold stopped right after Redis took the new time (the change):
    the next sync's demotion writes it to ClickHouse and takes it out of Redis."""
    sid = await service.schedule_event("t", "b", delay_seconds=60, schedule_id=uid)
    _, ev = await hot.get(sid)  # type: ignore[misc]
    far = at(2 * DAY)
    await hot.reschedule(dataclasses.replace(ev, scheduled_at=far.timestamp()))  # and no more
    result = await service.sync_clickhouse_to_redis()
    assert result.demoted == 1
    assert await hot.get(sid) is None
    assert (await rows(cold, sid))[far].status is Status.PENDING
    status = await service.get_status(sid)
    assert status is not None and (status.status, status.scheduled_at) == ("pending", far)


async def test_a_crash_after_the_clickhouse_step_of_a_move_to_the_hot_tier_is_completed_by_the_sync(
    hybrid_settings: Settings, cold: ColdStore, hot: HotStore, uid: str
) -> None:
    """The move cold -> hot stopped right after ClickHouse took the new time (the change):
    the event waits `pending` and the next sync moves it into Redis, once."""
    sid = await _one_cold(hybrid_settings, uid)
    (old,) = await cold.find([sid])
    soon = at(30)
    new = dataclasses.replace(old.event, scheduled_at=soon.timestamp())
    await cold.write(
        [
            row(new, Status.PENDING, Tier.COLD, change_version()),
            old.version_row(Status.CANCELLED, Tier.COLD, superseded_version()),
        ]
    )  # and no more
    service = SchedulerService(hybrid_settings)
    await service.start()
    try:
        assert (await service.sync_clickhouse_to_redis()).transferred == 1
        assert (await service.sync_clickhouse_to_redis()).transferred == 0
    finally:
        await service.stop()
    state, ev = await hot.get(sid)  # type: ignore[misc]
    assert (state, ev.scheduled_at_datetime) == ("pending", soon)
    assert await hot.counts() == {"pending": 1, "held": 0, "in_flight": 0}


async def _one_cold(settings: Settings, sid: str) -> str:
    service = SchedulerService(settings)
    await service.start()
    try:
        return await service.schedule_event("t", "b", scheduled_at=at(2 * DAY), schedule_id=sid)
    finally:
        await service.stop()
