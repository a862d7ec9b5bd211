"""CleanupWorkflow: remove finished schedules past retention and hot-tier debris."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cold import ColdActivities
    from scheduler.cold.jobs import CleanupInput, CleanupResult
    from workflows.models import CLEANUP_WORKFLOW
    from workflows.options import CLEANUP_TIMEOUT, HEARTBEAT_TIMEOUT, RETRY


@workflow.defn(name=CLEANUP_WORKFLOW)
class CleanupWorkflow:
    @workflow.run
    async def run(self, input: CleanupInput) -> CleanupResult:
        return await workflow.execute_activity_method(
            ColdActivities.cleanup,
            input,
            start_to_close_timeout=CLEANUP_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
