"""Consume the delayed topic: parse envelopes, store events, then commit offsets.

Per batch: valid events are stored through the router (pipelined Lua calls), bad ones
are produced to the dead-letter topic with the reason in headers, and only when both
are done is the offset committed. If a store fails (Redis down) the same batch is
retried with backoff and nothing is committed, so a crash loses nothing; redelivered
messages keep their schedule_id and so stay one event.

With the cold tier, the journal rows of the events stored in Redis go to an
IngestJournal (scheduler.ingest.journal), which writes those of several batches in one
ClickHouse insert and commits their offsets after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

from scheduler import metrics
from scheduler.errors import BeyondHorizon, InvalidEvent, RecurringNotFound, ScheduleConflict
from scheduler.hot.backoff import Outage
from scheduler.ingest.envelope import (
    RecurringCommand,
    dead_letter_headers,
    parse_envelope_policy,
    parse_recurring_envelope,
)
from scheduler.ingest.journal import IngestJournal
from scheduler.models import Event, Limits, OnConflict
from scheduler.recurring.schedules import RecurringSchedules
from scheduler.rescheduling import replace_pending
from scheduler.router import Router

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass(slots=True)
class Prepared:
    """A parsed batch: events to store and records to dead-letter (with reasons)."""

    now: float
    events: list[Event] = field(default_factory=list)
    rejected: list[tuple[Record, str, str]] = field(default_factory=list)
    # recurring-schedule messages, in message order
    recurring: list[tuple[Record, RecurringCommand]] = field(default_factory=list)
    # on_conflict=replace: a pending event under the id becomes this one.
    replacing: list[tuple[Record, Event]] = field(default_factory=list)
    # stored in Redis, to journal in ClickHouse (with an IngestJournal): set by store()
    to_journal: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    recurring: int = 0  # recurring-schedule messages applied
    replaced: int = 0


class DelayedEventsConsumer:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        router: Router,
        limits: Limits,
        dead_letter_topic: str,
        *,
        batch_size: int,
        max_dead_letter_bytes: int,
        recurring: RecurringSchedules | None = None,
        clock: Callable[[], float] = time.time,
        journal_batch_size: int = 20_000,
        journal_flush_interval: float = 1.0,
    ) -> None:
        """`recurring`: where recurring-schedule messages go (without it they are
        dead-lettered as invalid). `journal_*`: with the cold tier, the journal rows of
        this many events are written in one insert, or after this many seconds."""
        self.consumer = consumer
        self.producer = producer
        self.router = router
        self.limits = limits
        self.dead_letter_topic = dead_letter_topic
        self.batch_size = batch_size
        self.max_dead_letter_bytes = max_dead_letter_bytes
        self.recurring = recurring
        self.clock = clock
        self._stopping = asyncio.Event()
        self.running = False
        self.totals = BatchResult()
        self._next_offsets: dict[TopicPartition, int] = {}
        # The loop lives through the broker and Redis going away: one warning when a step
        # starts failing, one line when it works again, backoff in between.
        self.fetching = Outage("ingest: fetching from the delayed topic", log, cap=5.0)
        self.storing = Outage("ingest: storing a batch", log, cap=5.0)
        self.committing = Outage("ingest: committing offsets", log, cap=5.0)
        self.journal: IngestJournal | None = None
        if router.cold is not None:
            self.journal = IngestJournal(
                router.cold,
                self._commit,
                batch_size=journal_batch_size,
                flush_interval=journal_flush_interval,
            )

    def stop(self) -> None:
        self._stopping.set()
        if self.journal is not None:
            self.journal.close()

    async def run(self) -> None:
        self.running = True
        # One batch is stored (and then committed) in the background while the next is
        # fetched and parsed: Redis works on one core while we parse on the other.
        # Batches still finish, and commit, strictly in order.
        storing: asyncio.Task[bool] | None = None
        journaling = None
        if self.journal is not None:
            journaling = asyncio.create_task(self.journal.run(), name="ingest-journal")
        try:
            while not self._stopping.is_set():
                try:
                    batches = await self.consumer.getmany(
                        timeout_ms=200, max_records=self.batch_size
                    )
                except Exception as exc:  # aiokafka reconnects itself; errors it hands up
                    await self._pause(self.fetching.failed(exc))  # are retried, not fatal
                    continue
                self.fetching.recovered()
                self._record_lag(batches)
                records = [r for recs in batches.values() for r in recs]
                if not records:
                    continue
                prepared = self.prepare(records)
                if storing is not None and not await storing:
                    break  # stopping before that batch was stored: nothing committed
                offsets = {tp: rs[-1].offset + 1 for tp, rs in batches.items() if rs}
                storing = asyncio.create_task(
                    self._store_then_commit(prepared, offsets), name="ingest-store"
                )
        finally:
            try:
                if storing is not None:
                    await storing
            finally:
                if journaling is not None and self.journal is not None:
                    # What is gathered still goes in (one try), then is committed.
                    self.journal.finish()
                    try:
                        await asyncio.wait_for(asyncio.shield(journaling), 15)
                    except TimeoutError:
                        self.journal.stop()  # what is not written is not committed
                        await journaling
                    except asyncio.CancelledError:
                        journaling.cancel()  # nothing more committed
                        raise
                self.running = False

    def _record_lag(self, batches: dict[TopicPartition, list[Record]]) -> None:
        """Messages behind the end of this consumer's partitions (the fetch responses'
        high watermarks), for schedules_ingest_lag_messages."""
        for tp, recs in batches.items():
            if recs:
                self._next_offsets[tp] = recs[-1].offset + 1
        lag = 0
        for tp in self.consumer.assignment():
            end, next_offset = self.consumer.highwater(tp), self._next_offsets.get(tp)
            if end is not None and next_offset is not None:
                lag += max(0, end - next_offset)
        metrics.INGEST_LAG.set(lag)

    async def _store_then_commit(
        self, prepared: Prepared, offsets: dict[TopicPartition, int]
    ) -> bool:
        """Store a batch (retrying until done), then commit its offsets. False if asked
        to stop before it was stored: then nothing is committed."""
        if self.journal is None:
            if not await self._until_done(partial(self.store, prepared)):
                return False
            await self._commit(offsets)
            return True
        if not await self._until_done(partial(self.store, prepared, journal_later=True)):
            return False
        await self.journal.add(prepared.to_journal, offsets)
        return True

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:
            # After a rebalance these partitions belong to another consumer, which will
            # read the batch again; its events keep their schedule_ids, so it stays one
            # event each. Nothing is lost by not retrying here (batches may be consumed
            # again).
            self.committing.failed(exc)
        else:
            self.committing.recovered()

    async def _until_done(self, step: Callable[[], object]) -> bool:
        """Run `step` until it succeeds; False if asked to stop first (nothing committed)."""
        while not self._stopping.is_set():
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._pause(self.storing.failed(exc))
            else:
                self.storing.recovered()
                return True
        return False

    async def _pause(self, seconds: float) -> None:
        """Sleep, but not past stop()."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def handle(self, records: list[Record]) -> BatchResult:
        """Store or dead-letter every record of one batch. Raises if either fails."""
        return await self.store(self.prepare(records))

    def prepare(self, records: list[Record]) -> Prepared:
        """Parse and route a batch (CPU only: no I/O, so it can overlap a store)."""
        now = self.clock()
        prepared = Prepared(now)
        for rec in records:
            try:
                command = parse_recurring_envelope(rec, self.limits)
                if command is not None:
                    if self.recurring is None:
                        raise InvalidEvent("recurring schedules are not taken here")
                    prepared.recurring.append((rec, command))
                    continue
                ev, on_conflict = parse_envelope_policy(rec, self.limits, now)
                self.router.check(ev, now)
                if on_conflict is OnConflict.REPLACE:
                    prepared.replacing.append((rec, ev))
                else:
                    prepared.events.append(ev)
            except InvalidEvent as exc:
                reason = "beyond_horizon" if isinstance(exc, BeyondHorizon) else "invalid"
                prepared.rejected.append((rec, reason, str(exc)))
            except Exception as exc:
                # A defect of ours, not the message's fault; but retrying cannot help and
                # stopping would stop every partition of the batch: dead-letter it.
                log.exception(
                    "preparing %s[%d]@%d failed unexpectedly", rec.topic, rec.partition, rec.offset
                )
                prepared.rejected.append((rec, "internal", f"{type(exc).__name__}: {exc}"))
        return prepared

    async def store(self, prepared: Prepared, *, journal_later: bool = False) -> BatchResult:
        """Store the valid events and dead-letter the rest. Raises if either fails;
        running it again is safe (schedule_ids make the events idempotent).
        `journal_later`: the hot events' journal rows are left in `prepared.to_journal`
        for the caller to write (with the cold tier), not written here."""
        started = time.perf_counter()
        result = BatchResult()
        rejected = list(prepared.rejected)  # a retried batch starts again from `prepared`
        prepared.to_journal = []
        journal = prepared.to_journal if journal_later else None  # only with a cold tier
        if prepared.events:
            await self._store(prepared.events, prepared.now, result, journal)
        # Rare: one at a time and in order, each under its id's lock, so that a later
        # envelope replaces what an earlier one of the same batch scheduled.
        for rec, ev in prepared.replacing:
            try:
                done = await replace_pending(self.router, ev, prepared.now)
            except ScheduleConflict as exc:  # in flight: it fires as it was
                rejected.append((rec, "in_flight", str(exc)))
                continue
            if done is None:  # nothing pending under the id: a new event
                await self._store([ev], prepared.now, result, journal)
            else:
                result.replaced += 1
        if prepared.recurring:
            result.recurring = await self._apply_recurring(prepared.recurring, rejected)
        if rejected:
            await self._dead_letter(rejected)
            result.dead_lettered = len(rejected)
        self.totals.stored += result.stored
        self.totals.duplicates += result.duplicates
        self.totals.dead_lettered += result.dead_lettered
        self.totals.replaced += result.replaced
        metrics.INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)
        return result

    async def _apply_recurring(
        self,
        commands: list[tuple[Record, RecurringCommand]],
        rejected: list[tuple[Record, str, str]],
    ) -> int:
        """Create, replace or delete recurring schedules, in message order; one refused
        (e.g. a template over a limit the settings lowered since it was parsed) goes to
        `rejected`, not into a retry of the batch. Running it again (a retried batch, a
        redelivery) changes nothing more. Returns how many were applied."""
        assert self.recurring is not None
        applied = 0
        for rec, command in commands:
            try:
                if command.definition is not None:
                    await self.recurring.update(
                        command.recurring_id, command.definition, create=True
                    )
                else:
                    # Deleted already (or never there): the message's wish holds.
                    with contextlib.suppress(RecurringNotFound):
                        await self.recurring.delete(command.recurring_id)
            except InvalidEvent as exc:
                rejected.append((rec, "invalid", f"recurring: {exc}"))
            else:
                applied += 1
        return applied

    async def _store(
        self, events: list[Event], now: float, result: BatchResult, journal: list[Event] | None
    ) -> None:
        stored = await self.router.store(events, now, journal_to=journal)
        added = sum(s.added for s in stored)
        result.stored += added
        result.duplicates += len(stored) - added
        for tier, n in Counter(s.tier for s in stored if s.added).items():
            metrics.EVENTS_SCHEDULED.labels("kafka", tier.value).inc(n)

    async def _dead_letter(self, rejected: list[tuple[Record, str, str]]) -> None:
        futures = []
        for rec, reason, error in rejected:
            log.warning("dead-lettering %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, error)
            headers = dead_letter_headers(rec, reason, error)
            value = rec.value
            if value is not None and len(value) > self.max_dead_letter_bytes:
                # Too large to produce anywhere: keep the head and say where the whole
                # message still is (the delayed topic, until its retention ends).
                headers.append(("x-dlq-truncated-from", str(len(value)).encode()))
                value = value[: self.max_dead_letter_bytes]
            futures.append(
                await self.producer.send(
                    self.dead_letter_topic, value, key=rec.key, headers=headers
                )
            )
        await asyncio.gather(*futures)
        metrics.EVENTS_REJECTED.labels("kafka").inc(len(rejected))
        metrics.DEAD_LETTERS.labels("ingest").inc(len(rejected))
