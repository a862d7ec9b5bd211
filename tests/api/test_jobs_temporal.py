"""Manual sync and cleanup through the real Temporal workflows."""

from __future__ import annotations

import time

from temporalio.client import Client
from temporalio.worker import Worker

from scheduler.settings import Settings
from tests.api.conftest import MakeClient

URL = "/api/v1/schedules/monitoring"


async def test_sync_and_cleanup_run_as_workflows(
    make_client: MakeClient, orch_settings: Settings, client: Client, worker: Worker
) -> None:
    api = await make_client(
        orch_settings.model_copy(update={"immediate_horizon_seconds": 60}),
        temporal=client,
    )
    r = await api.post("/api/v1/schedules", json={"topic": "t", "body": "x", "delay_seconds": 120})
    assert r.json()["tier"] == "cold"
    r = await api.post(f"{URL}/sync")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["via"], body["finished"]) == ("temporal", True)
    assert body["workflow_id"] == "schedules-sync-manual"
    assert body["transferred"] == 1
    r = await api.post(f"{URL}/cleanup")
    assert r.status_code == 200, r.text
    assert r.json()["workflow_id"] == "schedules-cleanup-manual"
    health = (await api.get(f"{URL}/health")).json()
    assert health["components"]["temporal"]["status"] == "up"


async def test_slow_job_answers_202(
    make_client: MakeClient, orch_settings: Settings, client: Client
) -> None:
    # No worker polls this task queue, so the workflow cannot finish in time.
    api = await make_client(
        orch_settings.model_copy(update={"api_job_wait_seconds": 0.5}), temporal=client
    )
    started = time.monotonic()
    r = await api.post(f"{URL}/sync")
    assert r.status_code == 202, r.text
    assert r.json()["workflow_id"] == "schedules-sync-manual"
    assert time.monotonic() - started < 10
    await client.get_workflow_handle("schedules-sync-manual").terminate()
