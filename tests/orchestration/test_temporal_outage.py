"""Temporal goes away (SIGKILL) and comes back (same port, same database file): the worker
process lives through it and runs the next job; the API reports Temporal down on
/health, answers a manual job with 503 meanwhile, and runs jobs again once it is back.

Each test has a Temporal dev server of its own, so that killing it disturbs nobody else.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import eventually

from devstack.http_shim import HttpShim
from devstack.services import free_port, start_temporal
from scheduler.cold import ClickHouse
from scheduler.settings import Settings
from tests.api.conftest import MakeClient, make_client  # noqa: F401 (fixture)
from tests.orchestration.conftest import worker_process_env
from workflows.client import connect, run_job

URL = "/api/v1/schedules/monitoring"
OUTAGE_SECONDS = 10


class PrivateTemporal:
    """A Temporal dev server of one test's own, to kill and start again (same port, same
    SQLite file: its workflows and schedules survive)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.proc = start_temporal(self.port, None, data_dir)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: connections drop at once, nothing is shut down."""
        self.proc.process.kill()
        self.proc.process.wait()

    def restart(self) -> None:
        self.proc = start_temporal(self.port, None, self.data_dir)


@pytest.fixture
def private_temporal(tmp_path: Path) -> Iterator[PrivateTemporal]:
    server = PrivateTemporal(tmp_path / "temporal")
    yield server
    server.proc.stop()


@pytest.fixture
def outage_settings(hybrid_settings: Settings, private_temporal: PrivateTemporal) -> Settings:
    return hybrid_settings.model_copy(
        update={
            "temporal_address": private_temporal.address,
            "temporal_task_queue": f"schedules-{uuid.uuid4().hex[:10]}",
        }
    )


@pytest.fixture
def worker_process(
    outage_settings: Settings, shim: HttpShim, cold_db: ClickHouse, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `hybrid-scheduler worker` on this test's Temporal, Redis prefix and
    ClickHouse database (through the HTTP shim: chdb allows one process per path)."""
    s = outage_settings
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker"],
        env=worker_process_env(s, shim.url, cold_db.database, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def worker_pids(history: object) -> set[int]:
    """The process ids (`<pid>@<host>`) of the workers that completed workflow tasks."""
    pids = set()
    for event in history.events:  # type: ignore[attr-defined]
        if event.HasField("workflow_task_completed_event_attributes"):
            identity = event.workflow_task_completed_event_attributes.identity
            pids.add(int(identity.split("@")[0]))
    return pids


async def test_the_worker_lives_through_temporal_going_away(
    private_temporal: PrivateTemporal,
    worker_process: subprocess.Popen[bytes],
    outage_settings: Settings,
    tmp_path: Path,
) -> None:
    client = await connect(outage_settings)
    run = await run_job(client, outage_settings, "sync", wait_seconds=30)
    assert run.finished, "the worker did not run a sync before the outage"

    private_temporal.kill()
    until = time.monotonic() + OUTAGE_SECONDS
    while time.monotonic() < until:  # down for a while: the worker must not give up
        assert worker_process.poll() is None, (tmp_path / "worker.log").read_text()
        await asyncio.sleep(0.2)
    private_temporal.restart()

    run = await run_job(client, outage_settings, "cleanup", wait_seconds=25)
    assert worker_process.poll() is None, (tmp_path / "worker.log").read_text()
    assert run.finished, "the worker did not run a job after Temporal came back"
    history = await client.get_workflow_handle(run.workflow_id).fetch_history()
    assert worker_pids(history) == {worker_process.pid}

    worker_process.send_signal(signal.SIGTERM)
    assert worker_process.wait(15) == 0, (tmp_path / "worker.log").read_text()


async def test_the_api_reports_temporal_down_and_recovers(
    private_temporal: PrivateTemporal,
    worker_process: subprocess.Popen[bytes],
    outage_settings: Settings,
    make_client: MakeClient,  # noqa: F811
) -> None:
    wait = 5.0
    api = await make_client(
        outage_settings.model_copy(update={"api_job_wait_seconds": wait}),
        temporal=await connect(outage_settings),
    )
    r = await api.post(f"{URL}/sync")
    assert (r.status_code, r.json()["finished"]) == (200, True), r.text

    private_temporal.kill()
    r = await api.get(f"{URL}/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "degraded"
    assert body["components"]["temporal"]["status"] == "down"
    assert body["components"]["redis"]["status"] == "up"

    started = time.monotonic()
    r = await api.post(f"{URL}/sync")
    took = time.monotonic() - started
    assert r.status_code == 503, r.text
    assert r.json()["detail"].startswith(f"Temporal at {outage_settings.temporal_address}")
    assert r.headers["retry-after"] == "1"
    assert took < wait + 1, f"answered after {took:.1f} s"

    private_temporal.restart()

    async def healthy() -> bool:
        r = await api.get(f"{URL}/health")
        return r.json()["components"]["temporal"]["status"] == "up"

    assert await eventually(healthy, timeout=15, interval=0.2)
    r = await api.post(f"{URL}/sync")
    assert r.status_code == 200, r.text
    assert r.json()["finished"] is True
