"""What goes into and comes out of the orchestration workflows and their activities.

Plain dataclasses, every field defaulted, so `temporal workflow start ... --input '{}'`
works and the Temporal UI shows a readable result. No I/O here: workflows import this.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SyncInput:
    max_events: int | None = None  # bound the transfers of this run; None = all due
    max_rounds: int = 1000  # bounded batches of one activity (the rest waits a run)


@dataclass
class SyncOutput:
    transferred: int = 0  # cold schedules now in Redis
    demoted: int = 0  # hot schedules moved back to ClickHouse
    resolved: int = 0  # 'processing' rows of an interrupted run put right
    duplicates: int = 0  # skipped: Redis already held the id
    cancelled: int = 0  # skipped: cancelled while being moved
    rounds: int = 0
    seconds: float = 0.0  # time spent in the sync itself
    left_for_next_run: bool = False  # stopped at max_events / max_rounds with more due
    attempt: int = 1  # activity attempt that finished (>1: a worker was lost mid-sync)


@dataclass
class CleanupInput:
    pass


@dataclass
class CleanupOutput:
    removed: dict[str, int] = field(default_factory=dict)  # finished schedules, by status
    partitions_dropped: list[str] = field(default_factory=list)
    hot_orphans: int = 0
    seconds: float = 0.0


@dataclass
class RecoveryInput:
    check_sample: int = 1000  # 'transferred' schedules checked against Redis
    rebuild: bool = True  # False: report a damaged hot tier, do not rebuild it


@dataclass
class RecoverOutput:
    """Stuck 'processing' rows and expired Redis leases."""

    processing_transferred: int = 0
    processing_requeued: int = 0
    processing_waiting: int = 0  # skipped: too recent to tell, left for a later run
    leases_reaped: int = 0
    seconds: float = 0.0


@dataclass
class HotCheckOutput:
    """Does Redis still hold what ClickHouse says it does?"""

    checked: int = 0  # 'transferred' schedules not due yet, so they must be in Redis
    missing: int = 0


@dataclass
class RebuildOutput:
    restored: int = 0
    already_present: int = 0
    cancelled: int = 0
    seconds: float = 0.0


@dataclass
class RecoveryOutput:
    recover: RecoverOutput = field(default_factory=RecoverOutput)
    hot_check: HotCheckOutput = field(default_factory=HotCheckOutput)
    rebuild: RebuildOutput | None = None  # None: not needed, or not allowed (skipped)
    rebuild_skipped: bool = False  # missing schedules found but input.rebuild was False
    seconds: float = 0.0  # wall time of the workflow
