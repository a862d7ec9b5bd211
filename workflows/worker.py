"""The orchestration worker: registers the workflows and activities on the task queue
and ensures the Temporal Schedules. Built with the product's clients, like every role.

    worker = await start_worker(settings, ops)   # ops: scheduler.cold.ColdOperations
    await worker.run()                            # until worker.shutdown()
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.cold import ColdActivities
from scheduler.cold.operations import ColdOperations
from scheduler.settings import Settings
from workflows.cleanup import CleanupWorkflow
from workflows.client import connect
from workflows.recovery import RecoveryWorkflow
from workflows.schedules import ensure_schedules
from workflows.sync import SyncWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [SyncWorkflow, CleanupWorkflow, RecoveryWorkflow]


def build_worker(client: Client, settings: Settings, ops: ColdOperations) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=ColdActivities(ops).all(),
        # The operations serialise themselves per process; a few slots are plenty.
        max_concurrent_activities=4,
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


async def start_worker(
    settings: Settings, ops: ColdOperations, *, client: Client | None = None
) -> Worker:
    """Connect, ensure the schedules, and return the worker (not yet running)."""
    client = client or await connect(settings)
    changes = await ensure_schedules(client, settings)
    log.info(
        "Temporal worker on task queue %r at %s; schedules: %s",
        settings.temporal_task_queue,
        settings.temporal_address,
        ", ".join(f"{k} {v}" for k, v in changes.items()),
    )
    return build_worker(client, settings, ops)
