"""Timeouts and retry policies of the orchestration activities, in one place.

A lost worker is noticed by the heartbeat timeout (activities heartbeat every 2 s) and
the activity retried on another worker; the operations are idempotent, so a retry after
a crash at any point loses and doubles nothing. InvalidInput is never retried.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
NON_RETRYABLE = ["InvalidInput"]

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE,
)

# Runs stay short because each is bounded (SyncInput.max_rounds, bounded batches).
SYNC_TIMEOUT = timedelta(minutes=10)
CLEANUP_TIMEOUT = timedelta(minutes=30)
RECOVERY_TIMEOUT = timedelta(minutes=10)
CHECK_TIMEOUT = timedelta(minutes=1)
RECURRING_TIMEOUT = timedelta(minutes=10)
