"""SyncWorkflow: move cold schedules due soon into Redis (one bounded sync run)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cold import ColdActivities, check_sync_input
    from scheduler.cold.jobs import SyncInput, SyncResult
    from workflows.models import SYNC_WORKFLOW
    from workflows.options import HEARTBEAT_TIMEOUT, RETRY, SYNC_TIMEOUT


@workflow.defn(name=SYNC_WORKFLOW)
class SyncWorkflow:
    @workflow.run
    async def run(self, input: SyncInput) -> SyncResult:
        check_sync_input(input)  # fails the workflow at once, not after retries
        return await workflow.execute_activity_method(
            ColdActivities.sync,
            input,
            start_to_close_timeout=SYNC_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
