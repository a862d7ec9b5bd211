"""The Temporal worker process serves its metrics on SCHEDULES_METRICS_PORT: the
activities' job metrics (schedules_job_*), the sync's, and the queue gauges read from
Redis and ClickHouse on scrape, all in one registry."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from devstack.http_shim import HttpShim
from devstack.services import free_port
from scheduler.cold import ClickHouse
from scheduler.cold.jobs import SyncInput, SyncResult
from scheduler.cold.records import FIRST_VERSION, Status, Tier, row
from scheduler.cold.store import ColdStore
from scheduler.models import Event
from scheduler.settings import Settings
from tests.orchestration.conftest import worker_process_env
from tests.scraping import get, samples, wait_for
from workflows.sync import SyncWorkflow


@pytest.fixture
def worker_metrics(
    schedules: Client, orch_settings: Settings, shim: HttpShim, cold_db: ClickHouse, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A `hybrid-scheduler worker` process of this test; yields it and its metrics URL."""
    s, port = orch_settings, free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"],
        env=worker_process_env(
            s,
            shim.url,
            cold_db.database,
            tmp_path,
            SCHEDULES_METRICS_PORT=str(port),
            SCHEDULES_METRICS_HOST="127.0.0.1",
        ),
        stdout=subprocess.DEVNULL,
    )
    yield proc, f"http://127.0.0.1:{port}/metrics"
    proc.terminate()
    assert proc.wait(30) == 0


async def test_the_worker_process_serves_its_job_metrics(
    worker_metrics: tuple[subprocess.Popen[bytes], str],
    schedules: Client,
    orch_settings: Settings,
    cold: ColdStore,
) -> None:
    proc, url = worker_metrics
    at = time.time() + 600  # within the transfer horizon: the sync moves them
    evs = [Event(schedule_id=f"w{i}", topic="t", body=b"x", scheduled_at=at) for i in range(3)]
    later = Event(schedule_id="w-later", topic="t", body=b"x", scheduled_at=time.time() + 86400)
    await cold.write([row(ev, Status.PENDING, Tier.COLD, FIRST_VERSION) for ev in [*evs, later]])
    text = await asyncio.to_thread(wait_for, url, proc, "schedules_cold_pending")
    before = samples(text)
    assert before["schedules_cold_pending"] == 4
    out = await schedules.execute_workflow(
        SyncWorkflow.run,
        SyncInput(),
        id=f"metrics-{orch_settings.temporal_task_queue}",
        task_queue=orch_settings.temporal_task_queue,
        execution_timeout=timedelta(seconds=120),  # a dead worker fails, not hangs
        result_type=SyncResult,
    )
    assert out.transferred == 3
    after = samples(await asyncio.to_thread(get, url))
    assert after['schedules_job_runs_total{job="sync",outcome="success"}'] == 1
    assert after['schedules_job_seconds_count{job="sync"}'] == 1
    assert after["schedules_sync_transferred_total"] == 3
    assert after["schedules_redis_pending"] == 3
    assert after["schedules_cold_pending"] == 1
