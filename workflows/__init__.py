"""Temporal workflows (issue 5): SyncWorkflow, CleanupWorkflow, RecoveryWorkflow.

Deterministic and thin: they decide what runs in which order; the I/O lives in
`activities/`. Until they land, the product runs the same operations in-process.
"""
