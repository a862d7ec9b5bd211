"""What the cold tier's jobs take and return: one plain dataclass per operation, shared
by the operations here (scheduler/cold/), the Temporal activities and workflows, and the
HTTP API.

Every field has a default, so `temporal workflow start ... --input '{}'` works, and the
Temporal UI shows a result as readable JSON (these field names). Nothing but the standard
library: workflows import this inside their sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --- what a job takes (the workflows' and activities' inputs) ---------------------------


@dataclass
class SyncInput:
    max_events: int | None = None  # bound the transfers of this run; None = all due
    max_rounds: int = 1000  # bounded batches of one activity (the rest waits a run)


@dataclass
class CleanupInput:
    pass


@dataclass
class RecoveryInput:
    check_sample: int = 1000  # 'transferred' schedules checked against Redis
    rebuild: bool = True  # False: report a damaged hot tier, do not rebuild it


# --- what an operation returns ----------------------------------------------------------


@dataclass(slots=True)
class SyncResult:
    transferred: int = 0  # cold schedules now in Redis
    demoted: int = 0  # hot schedules moved back to ClickHouse
    resolved: int = 0  # 'processing' rows of an interrupted run put right
    duplicates: int = 0  # skipped: Redis holds another schedule under the same id
    cancelled: int = 0  # skipped: cancelled while being moved
    batches: int = 0  # batches moved into Redis
    rounds: int = 0  # sync runs (an activity runs up to SyncInput.max_rounds)
    seconds: float = 0.0  # time spent in the sync itself
    left_for_next_run: bool = False  # stopped at max_events / max_rounds with more due
    attempt: int = 1  # activity attempt that finished (>1: a worker was lost mid-sync)

    @property
    def moved(self) -> int:
        """How many schedules this run moved into Redis (the transfers)."""
        return self.transferred

    def add(self, run: SyncResult) -> None:
        """Count another run's figures into these."""
        self.transferred += run.transferred
        self.demoted += run.demoted
        self.resolved += run.resolved
        self.duplicates += run.duplicates
        self.cancelled += run.cancelled
        self.batches += run.batches
        self.rounds += run.rounds
        self.seconds += run.seconds


@dataclass(slots=True)
class CleanupResult:
    removed: dict[str, int] = field(default_factory=dict)  # finished schedules, by status
    partitions_dropped: list[str] = field(default_factory=list)
    hot_orphans: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.removed.values()) + self.hot_orphans


@dataclass(slots=True)
class ProcessingResult:
    """'processing' rows a sync left behind, resolved."""

    transferred: int = 0  # were in Redis: marked 'transferred'
    requeued: int = 0  # put into Redis now
    waiting: int = 0  # too recent to tell: left for a later run


@dataclass(slots=True)
class RecoveryResult:
    """Stuck 'processing' rows and expired Redis leases."""

    processing: ProcessingResult = field(default_factory=ProcessingResult)
    leases_reaped: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class HotCheckResult:
    """Does Redis still hold what ClickHouse says it does?"""

    checked: int = 0  # 'transferred' schedules not due yet, so they must be in Redis
    missing: int = 0


@dataclass(slots=True)
class RebuildResult:
    restored: int = 0  # put back into Redis
    already_present: int = 0  # still in Redis: left as they were
    cancelled: int = 0
    processing: ProcessingResult | None = None
    seconds: float = 0.0
