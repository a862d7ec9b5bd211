"""Manual sync and cleanup (POST .../monitoring/sync, /cleanup): run as a Temporal
workflow when the API has a Temporal client, waiting up to SCHEDULES_API_JOB_WAIT_SECONDS
for it; otherwise the service runs the job in this process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from scheduler.cold.jobs import CleanupResult, SyncResult
from scheduler.settings import Settings
from workflows.client import recent_runs, run_job

Job = Literal["sync", "cleanup"]


class InProcess(Protocol):
    """What runs a job in this process (scheduler.service.SchedulerService); ConfigError
    when the cold tier is disabled."""

    async def sync_clickhouse_to_redis(self) -> SyncResult: ...

    async def cleanup_old_schedules(self) -> CleanupResult: ...


def as_dict(result: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return dict(result) if isinstance(result, dict) else {"result": result}


@dataclass(frozen=True)
class Jobs:
    in_process: InProcess
    settings: Settings
    temporal: Any = None  # a connected temporalio Client

    async def run(self, job: Job) -> tuple[dict[str, Any], int]:
        """The answer's body (the JobResult model) and its HTTP code: 200 when the job
        finished, 202 while its workflow still runs."""
        if self.temporal is None:
            if job == "sync":
                result: Any = await self.in_process.sync_clickhouse_to_redis()
            else:
                result = await self.in_process.cleanup_old_schedules()
            return {"job": job, "via": "in_process", "finished": True, **as_dict(result)}, 200
        s = self.settings
        run = await run_job(self.temporal, s, job, wait_seconds=s.api_job_wait_seconds)
        body = {
            "job": job,
            "via": "temporal",
            "workflow_id": run.workflow_id,
            "finished": run.finished,
        }
        if not run.finished:
            return body, 202
        return {**body, **as_dict(run.result)}, 200

    async def recent(self, limit: int) -> dict[str, Any]:
        """The latest job runs (the JobRuns model): Temporal's list when the API has a
        client; in-process jobs leave no record this process could list."""
        if self.temporal is None:
            return {"via": "in_process", "runs": [], "last_sync": None}
        runs = [
            dataclasses.asdict(r) for r in await recent_runs(self.temporal, self.settings, limit)
        ]
        last_sync = next((r for r in runs if r["job"] == "sync"), None)
        return {"via": "temporal", "runs": runs, "last_sync": last_sync}
