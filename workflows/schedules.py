"""The Temporal Schedules that run the background jobs, ensured idempotently.

    schedules-sync       SyncWorkflow       every SCHEDULES_CLICKHOUSE_SYNC_INTERVAL  buffer one
    schedules-cleanup    CleanupWorkflow    every SCHEDULES_TEMPORAL_CLEANUP_INTERVAL skip
    schedules-recovery   RecoveryWorkflow   every SCHEDULES_RECOVERY_INTERVAL         skip
    schedules-recurring  RecurringWorkflow  every SCHEDULES_RECURRING_INTERVAL        skip

`ensure_schedules` creates what is missing and brings the interval, overlap policy,
catch-up window and task queue of an existing schedule up to date (a changed setting
takes effect on the next worker start). Whatever an operator changed besides (paused,
a note) is kept. Workers starting at the same time are fine: the loser of the create
sees ScheduleAlreadyRunningError and updates instead, to the same values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from scheduler.cold.jobs import CleanupInput, RecoveryInput, SyncInput
from scheduler.recurring.jobs import MaterializeInput
from scheduler.settings import Settings
from workflows.models import (
    CLEANUP_WORKFLOW,
    RECOVERY_WORKFLOW,
    RECURRING_WORKFLOW,
    SYNC_WORKFLOW,
)

log = logging.getLogger(__name__)

SYNC_ID = "schedules-sync"
CLEANUP_ID = "schedules-cleanup"
RECOVERY_ID = "schedules-recovery"
RECURRING_ID = "schedules-recurring"


@dataclass(frozen=True)
class JobSchedule:
    id: str
    workflow: str
    input: Any
    every: timedelta
    overlap: ScheduleOverlapPolicy


def job_schedules(settings: Settings) -> list[JobSchedule]:
    def secs(v: float) -> timedelta:
        return timedelta(seconds=v)

    return [
        JobSchedule(
            SYNC_ID,
            SYNC_WORKFLOW,
            SyncInput(),
            secs(settings.clickhouse_sync_interval),
            # A sync asked for while one runs happens right after it: the one running
            # may have read the window before the newest cold events arrived.
            ScheduleOverlapPolicy.BUFFER_ONE,
        ),
        JobSchedule(
            CLEANUP_ID,
            CLEANUP_WORKFLOW,
            CleanupInput(),
            secs(settings.temporal_cleanup_interval),
            ScheduleOverlapPolicy.SKIP,
        ),
        JobSchedule(
            RECOVERY_ID,
            RECOVERY_WORKFLOW,
            RecoveryInput(),
            secs(settings.recovery_interval),
            ScheduleOverlapPolicy.SKIP,
        ),
        JobSchedule(
            RECURRING_ID,
            RECURRING_WORKFLOW,
            MaterializeInput(),
            secs(settings.recurring_interval),
            ScheduleOverlapPolicy.SKIP,
        ),
    ]


def build_schedule(job: JobSchedule, settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            job.workflow,  # by name: the client side imports no workflow code
            job.input,
            id=f"{job.id}-run",  # Temporal appends the scheduled time
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=job.every)]),
        policy=SchedulePolicy(
            overlap=job.overlap,
            catchup_window=timedelta(seconds=settings.temporal_catchup_window),
        ),
    )


def _up_to_date(current: Schedule, wanted: Schedule) -> bool:
    action = current.action
    return (
        isinstance(action, ScheduleActionStartWorkflow)
        and isinstance(wanted.action, ScheduleActionStartWorkflow)
        and action.workflow == wanted.action.workflow
        and action.task_queue == wanted.action.task_queue
        and [i.every for i in current.spec.intervals] == [i.every for i in wanted.spec.intervals]
        and not current.spec.calendars
        and not current.spec.cron_expressions
        and current.policy.overlap == wanted.policy.overlap
        and current.policy.catchup_window == wanted.policy.catchup_window
    )


async def ensure_schedule(client: Client, job: JobSchedule, settings: Settings) -> str:
    """'created', 'updated' or 'unchanged'."""
    wanted = build_schedule(job, settings)
    try:
        await client.create_schedule(job.id, wanted)
    except ScheduleAlreadyRunningError:
        pass
    else:
        log.info("created Temporal schedule %s (every %s)", job.id, job.every)
        return "created"
    handle = client.get_schedule_handle(job.id)
    if _up_to_date((await handle.describe()).schedule, wanted):
        return "unchanged"

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.action = wanted.action
        schedule.spec = wanted.spec
        schedule.policy = wanted.policy
        return ScheduleUpdate(schedule)  # its state (paused, note) stays as it was

    await handle.update(update)
    log.info("updated Temporal schedule %s (every %s)", job.id, job.every)
    return "updated"


async def ensure_schedules(client: Client, settings: Settings) -> dict[str, str]:
    """Ensure the schedules; returns what happened to each, by id."""
    return {job.id: await ensure_schedule(client, job, settings) for job in job_schedules(settings)}
