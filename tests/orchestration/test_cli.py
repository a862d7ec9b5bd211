"""The operator's commands: `temporal workflow start` and `temporal schedule trigger`
run the jobs by hand (README: force a manual sync / cleanup)."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

from conftest import eventually
from temporalio.client import Client
from temporalio.worker import Worker

from devstack.services import _temporal_cli
from scheduler.cold.jobs import SyncResult
from scheduler.cold.records import FIRST_VERSION, Status, Tier, row
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.models import Event
from scheduler.settings import Settings
from workflows.schedules import SYNC_ID, ensure_schedules


def temporal(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [_temporal_cli(), *args, "--address", settings.temporal_address]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


async def put_cold_due_soon(cold: ColdStore, n: int) -> None:
    at = time.time() + 600
    evs = [Event(schedule_id=f"c{i}", topic="t", body=b"x", scheduled_at=at) for i in range(n)]
    await cold.write([row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION) for ev in evs])


async def test_temporal_workflow_start_with_empty_input(
    worker: Worker, client: Client, orch_settings: Settings, cold: ColdStore
) -> None:
    await put_cold_due_soon(cold, 3)
    wid = f"manual-{uuid.uuid4().hex[:8]}"
    started = await asyncio.to_thread(
        temporal,
        orch_settings,
        "workflow", "start", "--task-queue", orch_settings.temporal_task_queue,
        "--type", "SyncWorkflow", "--input", "{}", "--workflow-id", wid,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    out = await client.get_workflow_handle(wid, result_type=SyncResult).result()
    assert out.transferred == 3
    shown = await asyncio.to_thread(temporal, orch_settings, "workflow", "show", "-w", wid)
    assert shown.returncode == 0 and "Completed" in shown.stdout, shown.stdout


async def test_temporal_schedule_trigger_runs_a_sync_now(
    schedules: Client, worker: Worker, orch_settings: Settings, cold: ColdStore, hot: HotStore
) -> None:
    await ensure_schedules(schedules, orch_settings)  # every 300 s: not before the trigger
    await put_cold_due_soon(cold, 2)
    listed = await asyncio.to_thread(temporal, orch_settings, "schedule", "list")
    assert SYNC_ID in listed.stdout, listed.stdout
    trig = await asyncio.to_thread(
        temporal, orch_settings, "schedule", "trigger", "--schedule-id", SYNC_ID
    )
    assert trig.returncode == 0, trig.stderr

    async def moved() -> bool:
        return (await hot.counts())["pending"] == 2

    assert await eventually(moved, timeout=20)
