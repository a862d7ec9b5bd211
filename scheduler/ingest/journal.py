"""Kafka ingest's journal: the ClickHouse rows of ingested hot events, written in large
inserts, and the offsets they carry committed after.

With the cold tier, every event stored in Redis also gets its first version in
`event_schedules_log` (status 'transferred', tier 'hot'), and the delayed topic's offset
of a message is committed only once its event is in Redis AND journaled: a crash in
between loses nothing, the message is consumed again (its event keeps its schedule_id and
scheduled_at, so Redis refuses the second copy and the router journals it again).

A ClickHouse insert costs several times more per row in small batches than in large ones
(each insert is a part written, and merged later), so the rows of consecutive consumed
batches are gathered here: written when SCHEDULES_INGEST_JOURNAL_BATCH_SIZE of them wait,
or SCHEDULES_INGEST_JOURNAL_FLUSH_INTERVAL after the oldest arrived, one insert at a time,
the consumer storing the next batches into Redis meanwhile. Offsets are committed in
the order their batches were consumed, each after every row of its batch is written. At
most one insert's rows are written while as many wait: beyond that the consumer waits
too. While ClickHouse refuses, the insert is retried with backoff and nothing is
committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.structs import TopicPartition

from scheduler import metrics
from scheduler.cold.records import Status, Tier, first_columns
from scheduler.cold.store import ColdStore
from scheduler.hot.backoff import Outage
from scheduler.models import Event

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]


class IngestJournal:
    def __init__(
        self,
        cold: ColdStore,
        commit: Callable[[Offsets], Awaitable[None]],
        *,
        batch_size: int,
        flush_interval: float,
    ) -> None:
        """`commit`: commits offsets (after their batches' rows are written)."""
        self.cold = cold
        self.commit = commit
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        # The gathered rows as columns (records.first_columns): strings, bytes and ints,
        # which the garbage collector does not track, where events and their header
        # dicts, kept for a second or more, would be scanned by every collection.
        self._columns: list[list[Any]] = []
        self._rows = 0
        self._offsets: Offsets = {}  # next offset per partition, of the batches gathered
        self._oldest: float | None = None  # when the oldest gathered batch arrived
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing = asyncio.Event()  # shutting down: add() waits no more
        self._finished = asyncio.Event()  # no more add(): run() ends once all is written
        self._stopping = asyncio.Event()  # ends run() now
        self.writing = Outage("ingest: journaling stored events in ClickHouse", log, cap=5.0)

    def pending(self) -> int:
        """Rows gathered and not yet being written."""
        return self._rows

    async def add(self, events: list[Event], offsets: Offsets) -> None:
        """Gather a stored batch's journal rows (any number, none too) and its offsets:
        committed once the rows are written. Waits while a full insert's rows wait."""
        while self._rows >= self.batch_size and not self._closing.is_set():
            self._room.clear()
            self._wake.set()
            await self._room.wait()
        if events:
            columns = first_columns(events, Status.TRANSFERRED, Tier.HOT)
            if self._columns:
                for column, more in zip(self._columns, columns, strict=True):
                    column += more
            else:
                self._columns = columns
            self._rows += len(events)
        self._offsets.update(offsets)  # batches come in order: the later offset wins
        if self._oldest is None:  # the writer waits for a first batch: its clock starts
            self._oldest = time.monotonic()
            self._wake.set()
        elif self._rows >= self.batch_size:
            self._wake.set()

    async def run(self) -> None:
        """Write gathered rows (and commit) until finish(), then what is left."""
        while not self._stopping.is_set():
            finished = self._finished.is_set()
            if self._oldest is None:
                if finished:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = self._oldest + self.flush_interval - time.monotonic()
            if not finished and wait > 0 and self._rows < self.batch_size:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            columns, rows, offsets = self._columns, self._rows, self._offsets
            self._columns, self._rows, self._offsets, self._oldest = [], 0, {}, None
            self._room.set()
            if not await self._write(columns, rows):
                return  # stopped before they were written: nothing committed
            await self.commit(offsets)

    async def _write(self, columns: list[list[Any]], rows: int) -> bool:
        """Insert the rows, retrying until done; False if stopped first."""
        while True:
            started = time.perf_counter()
            try:
                await self.cold.write_first(columns)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                pause = self.writing.failed(exc)
                if self._closing.is_set():
                    log.warning(
                        "ingest: %d stored events not journaled at shutdown (%s): their "
                        "offsets are not committed, they are consumed again",
                        rows,
                        exc,
                    )
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), pause)
                if self._stopping.is_set():
                    return False
            else:
                self.writing.recovered()
                metrics.JOURNAL_FLUSH_SECONDS.observe(time.perf_counter() - started)
                return True

    def close(self) -> None:
        """Shutting down: add() no longer waits for room, and an insert ClickHouse
        refuses is not retried (its offsets are not committed)."""
        self._closing.set()
        self._room.set()

    def finish(self) -> None:
        """No more add(): run() writes what is gathered, commits it, and ends."""
        self.close()
        self._finished.set()
        self._wake.set()

    def stop(self) -> None:
        """End run() now: rows not written yet are not (their offsets not committed)."""
        self.finish()
        self._stopping.set()
