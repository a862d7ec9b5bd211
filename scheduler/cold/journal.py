"""The journal writer: buffers rows for ClickHouse and writes them in batches.

Two kinds of rows arrive here, from places that must never wait for ClickHouse:

- journal versions of hot-tier schedules accepted through the Python/HTTP API
  (status 'transferred', tier 'hot', version 1), so operators' SQL sees every schedule
  and an emptied Redis can be rebuilt;
- the executor's outcomes (its `on_outcomes` hook): a new version of each schedule
  (executed / skipped / error, or 'transferred' with the attempt count after a retry)
  and, when SCHEDULES_ANALYTICS_ENABLED, one `schedule_execution_results` row per
  delivery attempt.

Rows are written when SCHEDULES_ANALYTICS_BATCH_SIZE of them are waiting, or
SCHEDULES_ANALYTICS_FLUSH_INTERVAL after the oldest arrived. While ClickHouse is
unreachable they stay buffered (retried with backoff, the oldest dropped beyond
`max_buffered`, counted in schedules_journal_dropped_total): firing never stops for it.

Outcome mapping (Outcome.status -> schedule status / execution result status):

    success      -> executed                       / success
    skipped      -> skipped                        / skipped   (later than max_delay_seconds)
    dead_letter  -> error   (error = reason: ...)  / error, or timeout if Outcome.timed_out
    retry        -> transferred (attempts, error)  / error, or timeout if Outcome.timed_out
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from scheduler import metrics
from scheduler.cold.records import (
    Status,
    Tier,
    change_version,
    first_rows,
    micros,
    outcome_version,
    row,
)
from scheduler.cold.store import ColdStore
from scheduler.hot.backoff import Outage
from scheduler.hot.outcome import Outcome, OutcomeStatus
from scheduler.models import Event, new_schedule_id

log = logging.getLogger(__name__)

_SCHEDULE_STATUS = {
    OutcomeStatus.SUCCESS: Status.EXECUTED,
    OutcomeStatus.SKIPPED: Status.SKIPPED,
    OutcomeStatus.DEAD_LETTER: Status.ERROR,
    OutcomeStatus.RETRY: Status.TRANSFERRED,
}


def result_status(o: Outcome) -> str:
    """The schedule_execution_results status of one outcome."""
    if o.status in (OutcomeStatus.SUCCESS, OutcomeStatus.SKIPPED):
        return o.status.value
    return "timeout" if o.timed_out else "error"


def hot_journal_rows(events: Iterable[Event]) -> list[tuple[Any, ...]]:
    """First versions of events stored straight into Redis."""
    return first_rows(events, Status.TRANSFERRED, Tier.HOT)


def outcome_rows(
    outcomes: Sequence[Outcome], node_id: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(schedule versions, execution results) for a batch of executor outcomes."""
    versions = []
    results = []
    for o in outcomes:
        ev = o.event
        status = _SCHEDULE_STATUS.get(o.status)
        if status is None:
            log.warning("unknown outcome status %r for %s; not journaled", o.status, ev.schedule_id)
            continue
        final = status is not Status.TRANSFERRED
        versions.append(
            row(
                ev,
                status,
                Tier.HOT,
                outcome_version() if final else change_version(),
                attempts=o.attempt,
                error=o.error,
            )
        )
        # Processing time: from the claim of the event's batch to the broker's ack.
        claimed_at = o.claimed_at
        processing_ms = (
            0 if claimed_at is None else max(0, round((o.executed_at - claimed_at) * 1000))
        )
        results.append(
            (
                new_schedule_id(),
                ev.schedule_id,
                ev.correlation_id or "",
                ev.topic,
                ev.entity_type,
                ev.action,
                micros(ev.scheduled_at),
                micros(o.executed_at),
                o.executed_at - ev.scheduled_at,
                result_status(o),
                o.error,
                min(max(o.attempt - 1, 0), 255),
                min(processing_ms, 2**32 - 1),
                o.node_id or node_id,
            )
        )
    return versions, results


class JournalWriter:
    """Buffers schedule versions and execution results; a background task writes them."""

    def __init__(
        self,
        store: ColdStore,
        *,
        batch_size: int,
        flush_interval: float,
        record_results: bool,
        node_id: str,
        max_buffered: int | None = None,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.record_results = record_results
        self.node_id = node_id or socket.gethostname()
        self.max_buffered = max_buffered or max(100_000, 100 * batch_size)
        self._versions: deque[tuple[Any, ...]] = deque()
        self._results: deque[tuple[Any, ...]] = deque()
        self._oldest: float | None = None
        self._writing = 0
        self._in_write: list[tuple[Any, ...]] = []  # versions being written now
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # One warning when writing starts failing (ClickHouse away), one line when it
        # works again; the same for dropping rows from a full buffer meanwhile.
        self.writing = Outage("journal: writing rows to ClickHouse", log, base=0.5, cap=30.0)
        self._dropped = 0  # rows dropped since the last successful write

    # --- producers of rows (never block on ClickHouse) ------------------------------------

    def add_versions(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._add(self._versions, rows, "event_schedules")

    def add_hot(self, events: Iterable[Event]) -> None:
        """Journal events that were just stored in Redis."""
        self.add_versions(hot_journal_rows(events))

    async def record(self, outcomes: list[Outcome]) -> None:
        """The executor's on_outcomes hook."""
        versions, results = outcome_rows(outcomes, self.node_id)
        self._add(self._versions, versions, "event_schedules")
        if self.record_results:
            self._add(self._results, results, "schedule_execution_results")

    def _add(
        self, buf: deque[tuple[Any, ...]], rows: Iterable[tuple[Any, ...]], table: str
    ) -> None:
        before = len(buf)
        buf.extend(rows)
        if len(buf) == before:
            return
        if self._oldest is None:
            self._oldest = time.monotonic()
        overflow = len(buf) - self.max_buffered
        if overflow > 0:
            for _ in range(overflow):
                buf.popleft()
            metrics.JOURNAL_DROPPED.labels(table).inc(overflow)
            if not self._dropped:
                log.error(
                    "journal buffer full (%d rows): dropping the oldest rows until ClickHouse "
                    "takes them again (schedules_journal_dropped_total counts them)",
                    self.max_buffered,
                )
            self._dropped += overflow
        if self.pending() >= self.batch_size:
            self._wake.set()

    def buffered_versions(self, schedule_id: str) -> list[tuple[Any, ...]]:
        """Versions of `schedule_id` not yet in ClickHouse (buffered or being written):
        what this process knows of a schedule before the table does."""
        return [r for rows in (self._in_write, self._versions) for r in rows if r[0] == schedule_id]

    def buffered_rows(self) -> list[tuple[Any, ...]]:
        """Every version not yet in ClickHouse (buffered or being written), oldest first:
        what a listing of this process adds to the table's (scheduler.listing)."""
        return [*self._in_write, *self._versions]

    @contextlib.asynccontextmanager
    async def holding_writes(self) -> AsyncIterator[None]:
        """No row is written while the block runs (it waits for a write under way): the
        buffer and ClickHouse then agree on what is where, for reads that combine them
        (scheduler.listing's exact counts). Rows are still taken meanwhile."""
        async with self._lock:
            yield

    def pending(self) -> int:
        """Rows not yet written (buffered, or being written now)."""
        return len(self._versions) + len(self._results) + self._writing

    # --- writing ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write everything buffered so far; raises if ClickHouse refuses (rows are kept)."""
        async with self._lock:
            while self._versions or self._results:
                versions = [
                    self._versions.popleft() for _ in range(min(len(self._versions), 50_000))
                ]
                results = [self._results.popleft() for _ in range(min(len(self._results), 50_000))]
                started = time.perf_counter()
                self._writing = len(versions) + len(results)
                self._in_write = versions
                try:
                    if versions:
                        await self.store.write(versions)
                        versions = []
                    if results:
                        await self.store.write_results(results)
                except BaseException:
                    self._versions.extendleft(reversed(versions))
                    self._results.extendleft(reversed(results))
                    raise
                finally:
                    self._writing = 0
                    self._in_write = []
                metrics.JOURNAL_FLUSH_SECONDS.observe(time.perf_counter() - started)
            self._oldest = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="journal-writer")

    async def run(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            wait = self.flush_interval if backoff else self._until_due()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, backoff))
            if not self.pending():
                continue
            if not backoff and self.pending() < self.batch_size and self._until_due() > 0:
                continue
            try:
                await self.flush()
            except Exception as exc:
                backoff = self.writing.failed(exc)
                log.debug("%d journal rows wait; retry in %.1fs", self.pending(), backoff)
            else:
                backoff = 0.0
                self.writing.recovered()
                if self._dropped:
                    log.error(
                        "journal: %d rows were dropped while ClickHouse was away", self._dropped
                    )
                    self._dropped = 0

    def _until_due(self) -> float:
        if self._oldest is None:
            return self.flush_interval
        return self._oldest + self.flush_interval - time.monotonic()

    async def close(self, wait_seconds: float = 10.0) -> None:
        """Stop the background task and write what is left (best effort, bounded)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.pending():
            try:
                await asyncio.wait_for(self.flush(), wait_seconds)
            except Exception as exc:
                log.error("journal: %d rows not written at shutdown: %s", self.pending(), exc)
