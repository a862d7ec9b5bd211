"""RecoveryWorkflow: stuck 'processing' rows and expired leases, then a check that Redis
still holds what ClickHouse says it does, rebuilding the hot tier when it does not."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cold import ColdActivities
    from scheduler.cold.jobs import RecoveryInput
    from workflows.models import RECOVERY_WORKFLOW, RecoveryOutput
    from workflows.options import (
        CHECK_TIMEOUT,
        HEARTBEAT_TIMEOUT,
        RECOVERY_TIMEOUT,
        RETRY,
    )


@workflow.defn(name=RECOVERY_WORKFLOW)
class RecoveryWorkflow:
    @workflow.run
    async def run(self, input: RecoveryInput) -> RecoveryOutput:
        if input.check_sample < 1:
            raise ApplicationError(
                f"check_sample must be at least 1 (got {input.check_sample})",
                type="InvalidInput",
                non_retryable=True,
            )
        started = workflow.now()
        out = RecoveryOutput()
        out.recover = await workflow.execute_activity_method(
            ColdActivities.recover,
            input,
            start_to_close_timeout=RECOVERY_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
        out.hot_check = await workflow.execute_activity_method(
            ColdActivities.check_hot,
            input,
            start_to_close_timeout=CHECK_TIMEOUT,
            retry_policy=RETRY,
        )
        if out.hot_check.missing:
            if input.rebuild:
                workflow.logger.warning(
                    "Redis lacks %d of %d checked schedules: rebuilding the hot tier",
                    out.hot_check.missing,
                    out.hot_check.checked,
                )
                out.rebuild = await workflow.execute_activity_method(
                    ColdActivities.rebuild_hot,
                    input,
                    start_to_close_timeout=RECOVERY_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=RETRY,
                )
            else:
                out.rebuild_skipped = True
        out.seconds = (workflow.now() - started).total_seconds()
        return out
