"""Recurring schedules: create, read, update, pause, resume, delete, preview, and
materialise their occurrences.

    recurring = RecurringSchedules(store, router, limits, window_seconds=3600)
    d, created = await recurring.create(parse_recurring({...}))
    await recurring.materialize_all()     # what the periodic job runs

Every change of a definition is a compare-and-set on its version (lua/put.lua); its
occurrences are then reconciled under the definition's lock: the pending occurrences of
other generations are cancelled and the current generation's are materialised. Whoever
reconciles last sees the last version, so concurrent writers leave exactly its
occurrences. Updating, pausing and resuming start a new generation (new schedule_ids: the
cold tier remembers cancelled ones); pausing cancels the pending occurrences, and
resuming applies the catch-up policy to those missed since the pause.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from scheduler import metrics
from scheduler.cold.journal import JournalWriter
from scheduler.cold.store import ColdStore
from scheduler.errors import (
    ClickHouseQueryError,
    ConfigError,
    InvalidEvent,
    RecurringConflict,
    RecurringNotFound,
    ServiceUnavailable,
)
from scheduler.models import Limits, to_event
from scheduler.recurring.jobs import MaterializeResult
from scheduler.recurring.model import (
    RecurringDefinition,
    RecurringRequest,
    check_template,
)
from scheduler.recurring.occurrences import (
    cancel_occurrences,
    events,
    plan,
    preview,
)
from scheduler.recurring.store import Mark, RecurringStore
from scheduler.recurring.timing import Occurrence, parse_occurrence_id
from scheduler.router import Router

log = logging.getLogger(__name__)

PRUNE_AFTER_SECONDS = 3600.0  # occurrences are tracked this long after their time
MAX_PREVIEW = 1000
CAS_ATTEMPTS = 100


@dataclass(slots=True)
class Restored:
    restored: int = 0  # definitions put back into Redis from the ClickHouse mirror
    kept: int = 0  # mirrored definitions Redis still had (Redis is the source of truth)


@dataclass(slots=True)
class Reconciled:
    materialized: int = 0  # occurrences stored (new ones; a repeat is not counted)
    cancelled: int = 0  # pending occurrences of replaced generations cancelled


class RecurringSchedules:
    def __init__(
        self,
        store: RecurringStore,
        router: Router,
        limits: Limits,
        *,
        window_seconds: float,
        cold: ColdStore | None = None,
        journal: JournalWriter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.router = router
        self.limits = limits
        self.window_seconds = window_seconds
        self.cold = cold
        self.journal = journal
        self.clock = clock

    # --- definitions ---------------------------------------------------------------------

    def _check(self, req: RecurringRequest) -> None:
        check_template(req, self.limits)

    def _new(self, req: RecurringRequest, now: float, generation: int = 1) -> RecurringDefinition:
        at = datetime.fromtimestamp(now, UTC)
        return RecurringDefinition(
            **req.model_dump(), version=1, generation=generation, created_at=at, updated_at=at
        )

    async def _first(self, req: RecurringRequest, now: float) -> RecurringDefinition:
        """A new definition, in a generation above any its id had before (a definition
        deleted and created again must not reuse its occurrences' ids: the cold tier
        remembers them as cancelled)."""
        generation = await self.store.last_generation(req.recurring_id) + 1
        return self._new(req, now, generation)

    async def get(self, recurring_id: str) -> RecurringDefinition:
        found = await self.store.get(recurring_id)
        if found is None:
            raise RecurringNotFound(f"no recurring schedule {recurring_id!r}")
        return found[0]

    async def all(self) -> list[RecurringDefinition]:
        return await self.store.all()

    async def create(self, req: RecurringRequest) -> tuple[RecurringDefinition, bool]:
        """Store a new definition and materialise it; (definition, True). The same
        definition again answers (the stored one, False); another one under the same id
        raises RecurringConflict."""
        self._check(req)
        now = self.clock()
        new = await self._first(req, now)
        found = await self.store.put(new, 0, Mark.starting(new.generation, math.floor(now)))
        if found is not None:
            current = await self.get(req.recurring_id)
            if current.spec() == req:
                return current, False
            raise RecurringConflict(
                f"recurring schedule {req.recurring_id!r} already exists with another "
                f"definition (version {current.version}): update it instead"
            )
        await self.reconcile(req.recurring_id, mirror=True)
        return new, True

    async def update(
        self,
        recurring_id: str,
        req: RecurringRequest,
        *,
        expected_version: int | None = None,
        create: bool = False,
    ) -> RecurringDefinition:
        """Replace the definition and its pending occurrences. With `expected_version`,
        RecurringConflict unless that is the stored version; `create`: store it if there
        is none (PUT, the Kafka form). An unchanged definition changes nothing."""
        if req.recurring_id != recurring_id:
            raise InvalidEvent(
                f"recurring_id {req.recurring_id!r} does not match {recurring_id!r}",
                field="recurring_id",
            )
        self._check(req)

        def change(current: RecurringDefinition, now: datetime) -> RecurringDefinition | None:
            if current.spec() == req:
                return None
            return _with(current, **req.model_dump(), updated_at=now)

        return await self._change(
            recurring_id, change, expected_version=expected_version, create=req if create else None
        )

    async def pause(self, recurring_id: str) -> RecurringDefinition:
        """Stop materialising and cancel the pending occurrences."""

        def change(current: RecurringDefinition, now: datetime) -> RecurringDefinition | None:
            if current.paused:
                return None
            return _with(current, paused=True, paused_at=now, updated_at=now)

        return await self._change(recurring_id, change)

    async def resume(self, recurring_id: str) -> RecurringDefinition:
        """Materialise again; occurrences missed since the pause follow the catch-up policy."""

        def change(current: RecurringDefinition, now: datetime) -> RecurringDefinition | None:
            if not current.paused:
                return None
            return _with(current, paused=False, paused_at=None, updated_at=now)

        return await self._change(recurring_id, change)

    async def _change(
        self,
        recurring_id: str,
        change: Callable[[RecurringDefinition, datetime], RecurringDefinition | None],
        *,
        expected_version: int | None = None,
        create: RecurringRequest | None = None,
    ) -> RecurringDefinition:
        """Compare-and-set a change (retried on a concurrent change unless a version is
        expected), then reconcile the occurrences."""
        for _ in range(CAS_ATTEMPTS):
            now = self.clock()
            found = await self.store.get(recurring_id)
            if found is None:
                if create is None:
                    raise RecurringNotFound(f"no recurring schedule {recurring_id!r}")
                if expected_version not in (None, 0):
                    raise RecurringConflict(
                        f"recurring schedule {recurring_id!r} does not exist "
                        f"(expected version {expected_version})"
                    )
                new = await self._first(create, now)
                mark = Mark.starting(new.generation, math.floor(now))
                if await self.store.put(new, 0, mark) is None:
                    await self.reconcile(recurring_id, mirror=True)
                    return new
                continue
            current = found[0]
            if expected_version is not None and current.version != expected_version:
                raise RecurringConflict(
                    f"recurring schedule {recurring_id!r} is at version {current.version}, "
                    f"not {expected_version}"
                )
            changed = change(current, datetime.fromtimestamp(now, UTC))
            if changed is None:
                return current
            changed.version = current.version + 1
            changed.generation = current.generation + 1
            # A resumed definition catches up from its pause (the policy decides what
            # fires); any other change starts its new generation now.
            resumed = current.paused and not changed.paused and current.paused_at is not None
            since = current.paused_at.timestamp() if resumed and current.paused_at else now
            new_mark = Mark.starting(changed.generation, math.floor(since))
            if await self.store.put(changed, current.version, new_mark) is None:
                await self.reconcile(recurring_id, mirror=True)
                return changed
            if expected_version is not None:
                raise RecurringConflict(
                    f"recurring schedule {recurring_id!r} changed meanwhile; read it again"
                )
        raise RecurringConflict(f"recurring schedule {recurring_id!r} keeps changing; try again")

    async def delete(
        self, recurring_id: str, *, expected_version: int | None = None
    ) -> RecurringDefinition:
        """Forget the definition and cancel its pending occurrences; returns what it was."""
        found = await self.store.get(recurring_id)
        if found is None:
            raise RecurringNotFound(f"no recurring schedule {recurring_id!r}")
        result = await self.store.delete(recurring_id, expected_version)
        if result == 0:
            raise RecurringNotFound(f"no recurring schedule {recurring_id!r}")
        if result is not None:
            raise RecurringConflict(
                f"recurring schedule {recurring_id!r} is at version {result}, "
                f"not {expected_version}"
            )
        await self.reconcile(recurring_id, mirror=True)
        return found[0]

    async def preview(
        self,
        definition: RecurringDefinition | RecurringRequest,
        count: int,
        after: float | None = None,
    ) -> list[Occurrence]:
        """The next `count` occurrences after `after` (default now), stored or not."""
        if not 1 <= count <= MAX_PREVIEW:
            raise InvalidEvent(f"must be 1-{MAX_PREVIEW}", field="count")
        now = self.clock() if after is None else after
        if isinstance(definition, RecurringDefinition):
            d = definition
        else:
            self._check(definition)  # refused as it would be when saved
            d = self._new(definition, now)
        return preview(d, now, count)

    # --- occurrences ---------------------------------------------------------------------

    async def reconcile(self, recurring_id: str, *, mirror: bool = False) -> Reconciled:
        """Make the stored occurrences match the definition: cancel the pending ones of
        other generations (all of them if it is deleted or paused), materialise the
        current generation's up to the window. Idempotent; one caller at a time.
        `mirror` (after a change): also record the definition in the cold tier's mirror."""
        out = Reconciled()
        async with self.store.locked(recurring_id):
            now = self.clock()
            found = await self.store.get(recurring_id)
            if mirror:
                await self._mirror(recurring_id, None if found is None else found[0])
            tracked = await self.store.tracked(recurring_id)
            stale = _replaced(tracked, None if found is None else found[1])
            if stale:
                out.cancelled = await cancel_occurrences(
                    self.router.hot, self.cold, self.journal, stale, now
                )
                await self.store.untrack(recurring_id, [sid for sid, _ in stale])
            if found is None:
                await self.store.forget(recurring_id)
                return out
            d, mark = found
            await self.store.prune(recurring_id, now - PRUNE_AFTER_SECONDS)
            if d.paused or mark is None or mark.generation != d.generation:
                return out
            p = plan(d, mark.until, now, self.window_seconds)
            if p.occurrences:
                base = to_event(
                    d.event.request(datetime.fromtimestamp(now, UTC), p.occurrences[0].schedule_id),
                    self.limits,
                    now,
                )
                evs = events(base, p.occurrences)
                # Tracked first: an occurrence stored by a run that then fails is still
                # found, and cancelled, by the next change.
                await self.store.track(recurring_id, [(o.schedule_id, o.at) for o in p.occurrences])
                stored = await self.router.store(
                    evs, now, wait_for_journal=False, check_known_ids=True
                )
                out.materialized = sum(1 for s in stored if s.added)
                for s in stored:
                    if s.added:
                        metrics.EVENTS_SCHEDULED.labels("recurring", s.tier.value).inc()
            await self.store.advance(recurring_id, d.generation, p.until)
        return out

    async def _mirror(self, recurring_id: str, d: RecurringDefinition | None) -> None:
        """Record what Redis holds now in ClickHouse (under the definition's lock, so the
        latest write is the latest state). Redis is the source of truth: a mirror write
        that fails is logged, and the next change writes the mirror again."""
        if self.cold is None:
            return
        stamp = time.time_ns() // 1000
        try:
            await self.cold.mirror_recurring(
                recurring_id, None if d is None else d.model_dump_json(), stamp, stamp
            )
        except (ServiceUnavailable, ClickHouseQueryError, OSError) as exc:
            log.warning(
                "recurring schedule %s: ClickHouse mirror not updated: %s", recurring_id, exc
            )

    async def restore(self) -> Restored:
        """Put the definitions the ClickHouse mirror has, and Redis has not, back into
        Redis (after Redis lost its data), each with its version and generation; their
        occurrences are materialised from now on (missed ones are not caught up: which
        fired before the loss is unknown here). ConfigError without the cold tier."""
        if self.cold is None:
            raise ConfigError(
                "restoring recurring schedules needs the cold tier's mirror "
                "(SCHEDULES_COLD_TIER_ENABLED=false)"
            )
        out = Restored()
        for recurring_id, raw in await self.cold.recurring_definitions():
            d = RecurringDefinition.model_validate_json(raw)
            mark = Mark.starting(d.generation, math.floor(self.clock()))
            if await self.store.put(d, 0, mark) is None:
                out.restored += 1
                await self.reconcile(recurring_id)
            else:
                out.kept += 1
        return out

    async def materialize_all(
        self, progress: Callable[[MaterializeResult], None] | None = None
    ) -> MaterializeResult:
        """Reconcile every definition (the periodic job), calling `progress` after each;
        a definition whose template the settings now refuse is logged and skipped."""
        started = time.perf_counter()
        result = MaterializeResult()
        for d in await self.store.all():
            result.definitions += 1
            try:
                r = await self.reconcile(d.recurring_id)
            except InvalidEvent as exc:  # e.g. a template over a lowered size limit
                result.failed += 1
                log.warning("recurring schedule %s: not materialised: %s", d.recurring_id, exc)
            else:
                result.materialized += r.materialized
                result.cancelled += r.cancelled
            if progress is not None:
                progress(result)
        result.seconds = time.perf_counter() - started
        if result.materialized or result.cancelled or result.failed:
            log.info(
                "recurring schedules: %d definitions, %d occurrences materialised, "
                "%d cancelled, %d failed",
                result.definitions,
                result.materialized,
                result.cancelled,
                result.failed,
            )
        return result


def _with(current: RecurringDefinition, **changes: object) -> RecurringDefinition:
    """`current` with `changes`, validated (the template becomes an EventTemplate again)."""
    return RecurringDefinition.model_validate(current.model_dump() | changes)


def _replaced(tracked: list[tuple[str, float]], mark: Mark | None) -> list[tuple[str, float]]:
    """The tracked occurrences to cancel: all of them when the definition is gone, else
    those of other generations due after the current generation started (the ones
    before it belong to the old definition's past: fired, or firing late by jitter)."""
    out = []
    for sid, at in tracked:
        parsed = parse_occurrence_id(sid)
        if (
            mark is None
            or parsed is None
            or (parsed[1] != mark.generation and parsed[2] > mark.since)
        ):
            out.append((sid, at))
    return out
