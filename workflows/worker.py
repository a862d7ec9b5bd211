"""The orchestration worker: registers the workflows and activities on the task queue
and ensures the Temporal Schedules. Built with the product's clients, like every role.

    worker = await start_worker(settings, ops, recurring=runtime.recurring)
    await worker.run()                            # until worker.shutdown()
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
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

# How long a starting worker waits for a Temporal that answers but is not ready yet (its
# namespace not registered or not yet in its cache, as right after the server starts, or
# briefly unavailable) before giving up with that error.
STARTUP_WAIT_SECONDS = 60.0
_NOT_READY = {RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE}


async def _ensure_schedules_once_ready(
    client: Client, settings: Settings, wait: float
) -> dict[str, str]:
    """ensure_schedules, retried while Temporal answers "namespace not found" or
    "unavailable" (a server that is still starting, e.g. beside it in docker-compose),
    for up to `wait` seconds; one warning while waiting."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    delay = 0.2
    warned = False
    while True:
        try:
            return await ensure_schedules(client, settings)
        except RPCError as exc:
            if exc.status not in _NOT_READY or loop.time() + delay > give_up:
                raise
            if not warned:
                log.warning(
                    "Temporal at %s is not ready for namespace %r (%s): waiting up to %.0f s",
                    settings.temporal_address,
                    settings.temporal_namespace,
                    exc.message,
                    wait,
                )
                warned = True
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


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
    changes = await _ensure_schedules_once_ready(client, settings, STARTUP_WAIT_SECONDS)
    log.info(
        "Temporal worker on task queue %r at %s; schedules: %s",
        settings.temporal_task_queue,
        settings.temporal_address,
        ", ".join(f"{k} {v}" for k, v in changes.items()),
    )
    return build_worker(client, settings, ops, recurring)
