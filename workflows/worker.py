"""The orchestration worker: registers the workflows and activities on the task queue
and ensures the Temporal Schedules. Built with the product's clients, like every role.

    worker = await start_worker(settings, ops, recurring=runtime.recurring)
    await worker.run()                            # until worker.shutdown()
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.cold import ColdActivities
from activities.recurring import RecurringActivities
from scheduler.cold.operations import ColdOperations
from scheduler.recurring.schedules import RecurringSchedules
from scheduler.settings import Settings
from workflows.cleanup import CleanupWorkflow
from workflows.client import connect
from workflows.recovery import RecoveryWorkflow
from workflows.recurring import RecurringWorkflow
from workflows.schedules import ensure_schedules
from workflows.sync import SyncWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [SyncWorkflow, CleanupWorkflow, RecoveryWorkflow, RecurringWorkflow]


def build_worker(
    client: Client,
    settings: Settings,
    ops: ColdOperations,
    recurring: RecurringSchedules | None = None,
) -> Worker:
    """`recurring`: the recurring schedules, whose materialisation it then runs (every
    worker of a deployment is given them; a worker without them leaves that job to others)."""
    activities = ColdActivities(ops).all()
    if recurring is not None:
        activities += RecurringActivities(recurring).all()
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        # The operations serialise themselves per process; a few slots are plenty.
        max_concurrent_activities=4,
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


async def start_worker(
    settings: Settings,
    ops: ColdOperations,
    *,
    recurring: RecurringSchedules | None = None,
    client: Client | None = None,
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
    return build_worker(client, settings, ops, recurring)
