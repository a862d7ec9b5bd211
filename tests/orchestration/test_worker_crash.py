"""A worker process killed (SIGKILL) in the middle of a sync activity: Temporal notices
the missing heartbeats and retries the activity on the other worker; every schedule
ends in Redis exactly once, none is left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import eventually
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from devstack.http_shim import HttpShim
from scheduler.cold import ClickHouse
from scheduler.cold.jobs import SyncInput, SyncResult
from scheduler.cold.records import FIRST_VERSION, Status, Tier, row
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.models import Event
from scheduler.settings import Settings
from tests.orchestration.conftest import worker_process_env
from workflows.sync import SyncWorkflow

N = 4000


@pytest.fixture
def worker_env(
    orch_settings: Settings, shim: HttpShim, cold_db: ClickHouse, tmp_path: Path
) -> dict[str, str]:
    """`hybrid-scheduler worker` processes of this test: its Redis prefix, its ClickHouse
    database (through the HTTP shim: chdb allows one process per path), its task queue."""
    return worker_process_env(
        orch_settings,
        shim.url,
        cold_db.database,
        tmp_path,
        SCHEDULES_SYNC_BATCH_SIZE="50",  # many small rounds: a long activity to kill
        SCHEDULES_LOG_LEVEL="WARNING",
    )


@pytest.fixture
def start_workers(worker_env: dict[str, str], schedules: Client) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"],
            env=worker_env,
            stdout=subprocess.DEVNULL,
        )
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def test_sigkill_mid_sync_retries_on_the_other_worker(
    start_workers,  # type: ignore[no-untyped-def]
    client: Client,
    orch_settings: Settings,
    cold: ColdStore,
    hot: HotStore,
) -> None:
    at = time.time() + 900
    evs = [Event(schedule_id=f"k{i}", topic="t", body=b"x", scheduled_at=at) for i in range(N)]
    await cold.write([row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION) for ev in evs])
    workers = {p.pid: p for p in (start_workers(), start_workers())}
    handle = await client.start_workflow(
        SyncWorkflow.run,
        SyncInput(),
        id=f"crash-{orch_settings.temporal_task_queue}",
        task_queue=orch_settings.temporal_task_queue,
    )

    async def running_on() -> int | None:
        """The pid of the worker running the activity, once it has moved some events."""
        desc = await handle.describe()
        for act in desc.raw_description.pending_activities:
            if act.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                moved = (await hot.counts())["pending"]
                if 0 < moved < N // 2:
                    return int(act.last_worker_identity.split("@")[0])
        return None

    pid = await eventually(running_on, timeout=60, interval=0.1)
    assert pid in workers, f"activity not seen running mid-way on a test worker ({pid})"
    os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
    workers[pid].wait()  # type: ignore[index]

    out = await asyncio.wait_for(handle.result(), 90)
    assert isinstance(out, SyncResult)
    assert out.attempt == 2  # the retry, on the surviving worker
    assert (await hot.counts())["pending"] == N  # each schedule once in Redis
    statuses = await cold.count_by_status(list(Status))
    assert {k: v for k, v in statuses.items() if v} == {"transferred": N}
