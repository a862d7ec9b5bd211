"""Temporal workflows: SyncWorkflow (workflows.sync), CleanupWorkflow (workflows.cleanup),
RecoveryWorkflow (workflows.recovery). Their names and the recovery workflow's result are in
workflows.models; what they take and what each operation returns, in scheduler.cold.jobs.

Deterministic and thin: they decide what runs in which order; the I/O lives in
`activities/`. The client side (Temporal Schedules, starting a run and waiting for it,
the worker) is in workflows.schedules, workflows.client and workflows.worker. Nothing
is imported here, so the workflow sandbox loads only what a workflow needs.
"""
