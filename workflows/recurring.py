"""RecurringWorkflow: materialise the recurring schedules' occurrences due within the
window (one bounded run over every definition)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.recurring import RecurringActivities
    from scheduler.recurring.jobs import MaterializeInput, MaterializeResult
    from workflows.models import RECURRING_WORKFLOW
    from workflows.options import HEARTBEAT_TIMEOUT, RECURRING_TIMEOUT, RETRY


@workflow.defn(name=RECURRING_WORKFLOW)
class RecurringWorkflow:
    @workflow.run
    async def run(self, input: MaterializeInput) -> MaterializeResult:
        return await workflow.execute_activity_method(
            RecurringActivities.materialize,
            input,
            start_to_close_timeout=RECURRING_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
