"""A starting worker waits for a Temporal that answers but is not ready for its namespace
(right after the server starts, or beside it in docker-compose) instead of exiting."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid

import pytest
from conftest import eventually
from temporalio.service import RPCError

from devstack.services import _temporal_cli
from scheduler.cold.operations import ColdOperations
from scheduler.settings import Settings
from workflows import worker as worker_module
from workflows.schedules import CLEANUP_ID, RECOVERY_ID, SYNC_ID
from workflows.worker import start_worker


async def test_the_worker_waits_for_its_namespace_and_then_starts(
    orch_settings: Settings, ops: ColdOperations, caplog: pytest.LogCaptureFixture
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:10]}"
    s = orch_settings.model_copy(update={"temporal_namespace": namespace})
    caplog.set_level(logging.WARNING, logger="workflows.worker")
    starting = asyncio.create_task(start_worker(s, ops))

    async def warned() -> bool:
        return "not ready for namespace" in caplog.text

    assert await eventually(warned, timeout=30), "no warning while the namespace is missing"
    assert not starting.done()
    create = [_temporal_cli(), "operator", "namespace", "create", "--namespace", namespace]
    create += ["--address", s.temporal_address]
    done = await asyncio.to_thread(subprocess.run, create, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    worker = await asyncio.wait_for(starting, timeout=90)
    assert worker.task_queue == s.temporal_task_queue
    # It went on to create its schedules in that namespace.
    for job_id in (SYNC_ID, CLEANUP_ID, RECOVERY_ID):
        handle = worker.client.get_schedule_handle(job_id)
        assert (await handle.describe()).id == job_id
        await handle.delete()


async def test_a_namespace_that_never_comes_is_the_error_after_the_wait(
    orch_settings: Settings, ops: ColdOperations, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = orch_settings.model_copy(update={"temporal_namespace": f"ns-{uuid.uuid4().hex[:10]}"})
    monkeypatch.setattr(worker_module, "STARTUP_WAIT_SECONDS", 1.0)
    with pytest.raises(RPCError, match="not found"):
        await asyncio.wait_for(start_worker(s, ops), timeout=60)
