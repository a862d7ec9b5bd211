"""The Temporal Schedules: created once, updated when a setting changes (keeping
what an operator changed), safe when workers start at once, and firing for real."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from conftest import eventually
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from scheduler.cold.operations import ColdConfig, ColdOperations
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings
from workflows.schedules import (
    CLEANUP_ID,
    RECOVERY_ID,
    RECURRING_ID,
    SYNC_ID,
    ensure_schedules,
)
from workflows.worker import start_worker

IDS = (SYNC_ID, CLEANUP_ID, RECOVERY_ID, RECURRING_ID)


async def test_created_once_then_updated_when_an_interval_changes(
    schedules: Client, orch_settings: Settings
) -> None:
    client = schedules
    assert await ensure_schedules(client, orch_settings) == dict.fromkeys(IDS, "created")
    assert await ensure_schedules(client, orch_settings) == dict.fromkeys(IDS, "unchanged")

    wanted = {
        SYNC_ID: ("SyncWorkflow", 300, ScheduleOverlapPolicy.BUFFER_ONE),
        CLEANUP_ID: ("CleanupWorkflow", 86400, ScheduleOverlapPolicy.SKIP),
        RECOVERY_ID: ("RecoveryWorkflow", 60, ScheduleOverlapPolicy.SKIP),
        RECURRING_ID: ("RecurringWorkflow", 60, ScheduleOverlapPolicy.SKIP),
    }
    for sid, (workflow, every, overlap) in wanted.items():
        s = (await client.get_schedule_handle(sid).describe()).schedule
        assert isinstance(s.action, ScheduleActionStartWorkflow)
        assert (s.action.workflow, s.action.task_queue) == (
            workflow,
            orch_settings.temporal_task_queue,
        )
        assert [i.every for i in s.spec.intervals] == [timedelta(seconds=every)]
        assert (s.policy.overlap, s.policy.catchup_window) == (overlap, timedelta(seconds=60))

    sync = client.get_schedule_handle(SYNC_ID)
    await sync.pause(note="operator: investigating")
    faster = orch_settings.model_copy(update={"clickhouse_sync_interval": 30})
    assert await ensure_schedules(client, faster) == {
        SYNC_ID: "updated",
        CLEANUP_ID: "unchanged",
        RECOVERY_ID: "unchanged",
        RECURRING_ID: "unchanged",
    }
    desc = await sync.describe()
    assert [i.every for i in desc.schedule.spec.intervals] == [timedelta(seconds=30)]
    assert desc.schedule.state.paused  # the operator's pause survives the update


async def test_workers_starting_at_once_neither_fail_nor_duplicate(
    schedules: Client, orch_settings: Settings
) -> None:
    outcomes = await asyncio.gather(*(ensure_schedules(schedules, orch_settings) for _ in range(4)))
    for sid in IDS:
        assert Counter(o[sid] for o in outcomes)["created"] == 1
    listed = [s.id async for s in await schedules.list_schedules()]
    assert all(listed.count(sid) <= 1 for sid in IDS)


async def test_a_short_sync_interval_moves_a_cold_event_into_redis_and_it_fires(
    schedules: Client,
    orch_settings: Settings,
    cold: ColdStore,
    hot: HotStore,
    read_topic,  # type: ignore[no-untyped-def]
    uid: str,
) -> None:
    topic = f"target-{uid}"
    s = orch_settings.model_copy(
        update={
            "immediate_horizon_seconds": 2.0,
            "transfer_horizon_seconds": 1.5,
            "clickhouse_sync_interval": 1.0,
        }
    )
    await ensure_topics(s, [topic, s.delayed_topic, s.dead_letter_topic])
    service = SchedulerService(s)
    await service.start(roles=["executor"])
    ops = ColdOperations(cold, hot, ColdConfig.from_settings(s))
    try:
        reader = await read_topic(topic)
        sid = await service.schedule_event(topic=topic, body="later", delay_seconds=5)
        assert (await cold.find([sid]))[0].status == "pending"  # beyond the 2 s horizon
        async with await start_worker(s, ops, client=schedules):
            await reader.read(1, timeout=30)
            messages = await reader.settle(1.0)
        assert [dict(m.headers)["schedule_id"].decode() for m in messages] == [sid]
        assert service.runtime.journal is not None
        await service.runtime.journal.flush()
        assert await eventually(lambda: _status_is(cold, sid, "executed"), timeout=10), (
            "the cold row did not end 'executed'"
        )
    finally:
        await service.stop()


async def _status_is(cold: ColdStore, sid: str, status: str) -> bool:
    return [s.status for s in await cold.find([sid])] == [status]
