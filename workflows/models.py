"""The workflows' names, and the one result that is the workflows' own.

The client side (workflows.client, workflows.schedules) starts workflows by these names,
so it imports no workflow code. What a workflow takes and what each operation returns
are the dataclasses of scheduler.cold.jobs, shared with the activities; the recovery
workflow's result puts three of them together. No I/O here: workflows import this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.cold.jobs import HotCheckResult, RebuildResult, RecoveryResult

SYNC_WORKFLOW = "SyncWorkflow"
CLEANUP_WORKFLOW = "CleanupWorkflow"
RECOVERY_WORKFLOW = "RecoveryWorkflow"
RECURRING_WORKFLOW = "RecurringWorkflow"


@dataclass
class RecoveryOutput:
    recover: RecoveryResult = field(default_factory=RecoveryResult)
    hot_check: HotCheckResult = field(default_factory=HotCheckResult)
    rebuild: RebuildResult | None = None  # None: not needed, or not allowed (skipped)
    rebuild_skipped: bool = False  # missing schedules found but input.rebuild was False
    seconds: float = 0.0  # wall time of the workflow
