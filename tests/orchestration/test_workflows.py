"""Each workflow end to end: the real Temporal dev server, a worker in this process, real
Redis and ClickHouse."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from scheduler.cold.jobs import RecoveryInput, SyncInput, SyncResult
from scheduler.cold.records import FIRST_VERSION, OUTCOME_BAND, Status, Tier, micros, row
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.models import Event
from scheduler.settings import Settings
from workflows.client import run_job
from workflows.models import RecoveryOutput
from workflows.sync import SyncWorkflow

DAY = 86400.0


def events(n: int, at: float, prefix: str = "e") -> list[Event]:
    return [
        Event(schedule_id=f"{prefix}{i}", topic="t", body=b"x", scheduled_at=at + i / 1000)
        for i in range(n)
    ]


async def put_cold(cold: ColdStore, evs: list[Event]) -> None:
    await cold.write([row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION) for ev in evs])


async def statuses(cold: ColdStore) -> dict[str, int]:
    return {k: v for k, v in (await cold.count_by_status(list(Status))).items() if v}


async def test_sync_moves_due_cold_events_into_redis(
    worker: Worker, client: Client, orch_settings: Settings, cold: ColdStore, hot: HotStore
) -> None:
    now = time.time()
    await put_cold(cold, events(250, now + 600) + events(5, now + 10 * DAY, prefix="late"))
    done = await run_job(client, orch_settings, "sync", wait_seconds=30)
    assert done.finished and done.workflow_id == "schedules-sync-manual"
    out = done.result
    assert isinstance(out, SyncResult)
    assert (out.transferred, out.rounds, out.left_for_next_run) == (250, 3, False)
    assert out.attempt == 1 and out.seconds > 0
    assert await statuses(cold) == {"transferred": 250, "pending": 5}
    assert (await hot.counts())["pending"] == 250
    again = await run_job(client, orch_settings, "sync", wait_seconds=30)
    assert again.result.transferred == 0  # idempotent: nothing left to move


async def test_sync_bounded_by_max_events_says_what_it_left(
    worker: Worker, client: Client, orch_settings: Settings, cold: ColdStore
) -> None:
    await put_cold(cold, events(150, time.time() + 600))
    done = await run_job(client, orch_settings, "sync", SyncInput(max_events=120))
    assert (done.result.transferred, done.result.left_for_next_run) == (120, True)
    assert await statuses(cold) == {"transferred": 120, "pending": 30}


async def test_bad_input_fails_at_once_without_retries(
    worker: Worker, client: Client, orch_settings: Settings
) -> None:
    with pytest.raises(WorkflowFailureError) as err:
        await client.execute_workflow(
            SyncWorkflow.run,
            SyncInput(max_events=0),
            id=f"bad-{uuid.uuid4()}",
            task_queue=orch_settings.temporal_task_queue,
            execution_timeout=timedelta(seconds=120),  # a dead worker fails, not hangs
        )
    cause = err.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable
    assert cause.type == "InvalidInput" and "max_events" in cause.message


async def test_run_job_returns_the_workflow_id_when_it_does_not_finish_in_time(
    client: Client, orch_settings: Settings
) -> None:
    # No worker on this task queue: the run cannot finish.
    done = await run_job(client, orch_settings, "cleanup", wait_seconds=0.5)
    assert (done.finished, done.result, done.workflow_id) == (
        False,
        None,
        "schedules-cleanup-manual",
    )
    joined = await run_job(client, orch_settings, "cleanup", wait_seconds=0.2)
    handle = client.get_workflow_handle(done.workflow_id)
    assert joined.workflow_id == done.workflow_id  # the same run: joined, not a second one
    await handle.terminate("test over")


async def test_cleanup_removes_old_finished_schedules_and_hot_debris(
    worker: Worker, client: Client, orch_settings: Settings, cold: ColdStore, hot: HotStore
) -> None:
    old = time.time() - 40 * DAY
    rows = []
    for i, status in enumerate(["executed", "executed", "cancelled"]):
        ev = Event(schedule_id=f"old-{i}", topic="t", body=b"x", scheduled_at=old)
        rows.append(row(ev, Status(status), Tier.HOT, OUTCOME_BAND + i, updated_us=micros(old)))
    await cold.write(rows)
    await hot.redis.hset(hot.keys.attempts, "ghost", 3)  # debris: no such event
    done = await run_job(client, orch_settings, "cleanup", wait_seconds=30)
    assert done.result.removed == {"executed": 2, "cancelled": 1}
    assert done.result.hot_orphans == 1
    assert await statuses(cold) == {}
    again = await run_job(client, orch_settings, "cleanup", wait_seconds=30)
    assert again.result.removed == {}


async def test_recovery_rebuilds_a_redis_that_lost_its_data(
    worker: Worker,
    client: Client,
    orch_settings: Settings,
    cold: ColdStore,
    hot: HotStore,
    redis: Redis,
) -> None:
    await put_cold(cold, events(120, time.time() + 600))
    assert (await run_job(client, orch_settings, "sync")).result.transferred == 120
    healthy = (await run_job(client, orch_settings, "recovery")).result
    assert isinstance(healthy, RecoveryOutput)
    assert (healthy.hot_check.checked, healthy.hot_check.missing) == (120, 0)
    assert healthy.rebuild is None

    keys = [k async for k in redis.scan_iter(match=f"{orch_settings.redis_key_prefix}*")]
    await redis.delete(*keys)  # Redis lost its data
    report_only = await run_job(client, orch_settings, "recovery", RecoveryInput(rebuild=False))
    assert report_only.result.rebuild_skipped and report_only.result.hot_check.missing == 120
    assert (await hot.counts())["pending"] == 0

    fixed = (await run_job(client, orch_settings, "recovery")).result
    assert fixed.rebuild is not None and fixed.rebuild.restored == 120
    assert (await hot.counts())["pending"] == 120
    assert await statuses(cold) == {"transferred": 120}
