"""Connecting to Temporal, and running one job now and waiting for it (the HTTP API's
manual `sync` and `cleanup`).

    client = await connect(settings)
    done = await run_job(client, settings, "sync", wait_seconds=30)
    done.result      # SyncResult, or None if it did not finish in time
    done.workflow_id # to look it up later: `temporal workflow show -w <id>`

Temporal unreachable (or refusing the call) raises scheduler.errors.ServiceUnavailable
within `wait_seconds` (at least START_SECONDS), which the HTTP API answers with 503.

Workflows are started by name, so this imports neither the workflows nor, through them,
the activities: a process that only starts jobs (the HTTP API) loads just the client.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError

from scheduler.cold.jobs import (
    CleanupInput,
    CleanupResult,
    RecoveryInput,
    SyncInput,
    SyncResult,
)
from scheduler.errors import ServiceUnavailable
from scheduler.settings import Settings
from workflows.models import (
    CLEANUP_WORKFLOW,
    RECOVERY_WORKFLOW,
    RECURRING_WORKFLOW,
    SYNC_WORKFLOW,
    RecoveryOutput,
)

# A Prometheus endpoint can be bound once per process, so its Runtime is made once per
# port and shared by every client of this process (a process resource, not a client).
_runtimes: dict[int, Runtime] = {}


def runtime_for(metrics_port: int) -> Runtime | None:
    """The Runtime exporting Temporal SDK metrics on `metrics_port`; None for 0."""
    if not metrics_port:
        return None
    if metrics_port not in _runtimes:
        prometheus = PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}")
        _runtimes[metrics_port] = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    return _runtimes[metrics_port]


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        runtime=runtime_for(settings.temporal_metrics_port),
    )


# The least time Temporal is given to accept a start, however short the caller's wait: a
# sub-second wait means "do not wait for the result", not "Temporal is down".
START_SECONDS = 2.0

# job: (workflow name, its input, its result)
JOBS: dict[str, tuple[str, type, type]] = {
    "sync": (SYNC_WORKFLOW, SyncInput, SyncResult),
    "cleanup": (CLEANUP_WORKFLOW, CleanupInput, CleanupResult),
    "recovery": (RECOVERY_WORKFLOW, RecoveryInput, RecoveryOutput),
}


@dataclass
class JobRun:
    workflow_id: str
    finished: bool
    result: Any = None  # the workflow's output dataclass once finished


async def run_job(
    client: Client,
    settings: Settings,
    job: str,
    arg: Any = None,
    *,
    wait_seconds: float = 30.0,
) -> JobRun:
    """Start the job's workflow (or join the manual run already going: one workflow id
    per job) and wait up to `wait_seconds` in all for its result. A failed workflow raises
    temporalio.client.WorkflowFailureError. Temporal refusing the start, or not accepting
    it within `wait_seconds` (at least START_SECONDS; the client would otherwise retry an
    unreachable server for ~10 s), raises ServiceUnavailable, as does losing it while
    waiting for the result."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}; choose from {sorted(JOBS)}")
    workflow, input_type, result_type = JOBS[job]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    start_within = max(wait_seconds, START_SECONDS)
    where = f"Temporal at {settings.temporal_address}"
    try:
        handle = await asyncio.wait_for(
            client.start_workflow(
                workflow,
                input_type() if arg is None else arg,
                id=f"schedules-{job}-manual",
                task_queue=settings.temporal_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                result_type=result_type,
            ),
            start_within,
        )
    except TimeoutError:
        raise ServiceUnavailable(
            f"{where} did not start the {job} job within {start_within:g} s"
        ) from None
    except RPCError as exc:
        raise ServiceUnavailable(f"{where} did not start the {job} job: {exc}") from exc
    try:
        result = await asyncio.wait_for(handle.result(), max(0.0, deadline - loop.time()))
    except TimeoutError:
        return JobRun(handle.id, finished=False)
    except RPCError as exc:
        raise ServiceUnavailable(
            f"the {job} job started as workflow {handle.id}, then {where} became unreachable: {exc}"
        ) from exc
    return JobRun(handle.id, finished=True, result=result)


@dataclass(frozen=True)
class RecentRun:
    """One run of a job's workflow, as Temporal's visibility lists it."""

    job: str  # sync, cleanup, recovery, recurring
    workflow_id: str
    run_id: str
    status: str  # running, completed, failed, canceled, terminated, continued_as_new, timed_out
    started_at: datetime
    closed_at: datetime | None
    seconds: float | None  # closed_at - started_at


LIST_SECONDS = 5.0


async def recent_runs(client: Client, settings: Settings, limit: int = 10) -> list[RecentRun]:
    """The latest runs of the sync, cleanup, recovery and recurring workflows on this deployment's
    task queue (scheduled and manual), newest first. Temporal unreachable, or not
    answering within LIST_SECONDS, raises ServiceUnavailable."""
    jobs = {workflow: job for job, (workflow, _, _) in JOBS.items()}
    jobs[RECURRING_WORKFLOW] = "recurring"  # materialises occurrences, on its own Schedule
    query = "WorkflowType IN ({})".format(", ".join(f"'{name}'" for name in jobs))
    queue = settings.temporal_task_queue
    if "'" not in queue and "\\" not in queue:  # a name that needs no quoting
        query += f" AND TaskQueue = '{queue}'"
    where = f"Temporal at {settings.temporal_address}"

    async def listed() -> list[RecentRun]:
        runs = []
        async for w in client.list_workflows(query, limit=limit):
            seconds = None
            if w.close_time is not None:
                seconds = (w.close_time - w.start_time).total_seconds()
            status = w.status.name.lower() if w.status is not None else "unknown"
            runs.append(
                RecentRun(
                    jobs.get(w.workflow_type, w.workflow_type),
                    w.id,
                    w.run_id,
                    status,
                    w.start_time,
                    w.close_time,
                    seconds,
                )
            )
        return runs

    try:
        return await asyncio.wait_for(listed(), LIST_SECONDS)
    except TimeoutError:
        raise ServiceUnavailable(
            f"{where} did not list the job runs within {LIST_SECONDS:g} s"
        ) from None
    except RPCError as exc:
        raise ServiceUnavailable(f"{where} did not list the job runs: {exc}") from exc
