"""Reschedule a pending event, or replace it (debounce), in either tier; its id stays.

Every change runs under the router's lock of the schedule_id (HotStore.locked_ids), so
reschedules, replacing POSTs and new schedules of one id are serialised. The executor
takes no lock: against it, the Redis step is one script (lua/reschedule.lua) that refuses
an event an executor holds. So an event rescheduled while it falls due fires once: at
its old time (the claim came first: 409 in_flight) or at its new time, never both.

A schedule's identity in ClickHouse is (scheduled_at, schedule_id), so the new time is a
new row: `pending` (cold) or `transferred` (hot), while the old time's row gets a
`cancelled` version with error "rescheduled to <time>" (in the outcome band,
records.superseded_version). A new time equal to one this id already had in ClickHouse
is stored 1 µs later, so the two rows never share a key.

Where the change is decided (which side wins a crash):

- from Redis (hot): the Redis script is the change. Then the rows are journaled; for a
  new time beyond the immediate horizon the event is then written to ClickHouse as
  `pending` and taken out of Redis (only at that new time), as the sync's demotion does:
  a crash in between leaves it in both at the same time, which the next sync's demotion
  completes. It cannot fire meanwhile: it is beyond the horizon.
- from ClickHouse (cold): one INSERT writing the new time `pending` and retiring the old
  one is the change. Then the Redis script takes over a copy a sync may have moved there
  meanwhile (an in-flight copy: the new row is cancelled again and the answer is 409),
  and, for a new time within the horizon, stores the event in Redis and writes it as
  `transferred`: a crash in between leaves it `pending` and due soon, which the next sync
  moves (late by up to a sync interval, never lost, never twice).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scheduler import metrics
from scheduler.cold.records import (
    FINISHED,
    LIVE,
    Schedule,
    Status,
    Tier,
    cancel_version,
    change_version,
    micros,
    row,
    superseded_version,
)
from scheduler.cold.status import SCHEDULED, latest_versions
from scheduler.errors import ScheduleConflict, ServiceUnavailable, UnknownSchedule
from scheduler.hot.store import HotChange
from scheduler.models import Event
from scheduler.router import Router

log = logging.getLogger(__name__)

IN_FLIGHT = "in_flight"
COLD_SIDE = frozenset({Status.PENDING, Status.PROCESSING})


@dataclass(frozen=True, slots=True)
class Rescheduled:
    """What a reschedule (or a replacing POST) did."""

    event: Event  # the schedule as it is now stored
    tier: Tier  # where it is now
    previous: Event  # what it was
    previous_tier: Tier  # where it was
    changed: bool = True  # False: it already was exactly this (a retried request)


async def reschedule(
    router: Router, schedule_id: str, change: Callable[[Event], Event], now: float
) -> Rescheduled:
    """Replace the pending event `schedule_id` by `change(current event)`.

    Raises UnknownSchedule, ScheduleConflict (in flight or finished: `.state` says which),
    InvalidEvent from `change` or for a time no tier can take, ServiceUnavailable.
    """
    async with router.hot.locked_ids([schedule_id]):
        done = await _reschedule(router, schedule_id, change, now)
    if done.changed:
        metrics.RESCHEDULED.labels(done.previous_tier.value, done.tier.value).inc()
    return done


async def replace_pending(router: Router, ev: Event, now: float) -> Rescheduled | None:
    """POST with on_conflict=replace: make the pending event under `ev.schedule_id` this
    one. None if none is pending (unknown or finished): then `ev` is stored as new.
    ScheduleConflict if it is in flight."""
    try:
        return await reschedule(router, ev.schedule_id, lambda _: ev, now)
    except UnknownSchedule:
        return None
    except ScheduleConflict as exc:
        if exc.state == IN_FLIGHT:
            raise
        return None


async def _reschedule(
    router: Router, schedule_id: str, change: Callable[[Event], Event], now: float
) -> Rescheduled:
    found = await router.hot.get(schedule_id)
    if found is not None and found[0] == "in_flight":
        raise _in_flight(schedule_id, "an executor is publishing it now")
    rows, cold_error = await _rows(router, schedule_id)
    if found is not None:
        current, source = found[1], Tier.HOT
    else:
        if cold_error is not None:
            raise cold_error
        cold_side = [r for r in rows if r.status in COLD_SIDE]
        if not cold_side:
            raise _not_pending(schedule_id, rows)
        current, source = max(cold_side, key=lambda r: r.updated_us).event, Tier.COLD
    new = change(current)
    new = dataclasses.replace(
        new,
        schedule_id=schedule_id,
        scheduled_at=micros(new.scheduled_at) / 1_000_000,
        created_at=current.created_at,
    )
    if new == current:
        return Rescheduled(current, source, current, source, changed=False)
    router.check(new, now)
    target = router.tier_for(new, now)
    new = _free_time(new, {r.scheduled_us for r in rows} | {micros(current.scheduled_at)})
    retired = _retired(current, source, [r for r in rows if r.status in LIVE], new)
    if source is Tier.HOT:
        return await _from_hot(router, new, current, target, retired)
    return await _from_cold(router, new, current, target, retired)


async def _from_hot(
    router: Router, new: Event, current: Event, target: Tier, retired: list[tuple[Any, ...]]
) -> Rescheduled:
    hot, cold, source = router.hot, router.cold, Tier.HOT
    done = await hot.reschedule(new)
    if done is HotChange.IN_FLIGHT:
        raise _in_flight(new.schedule_id, "an executor claimed it a moment ago")
    if done is not HotChange.RESCHEDULED:
        raise ScheduleConflict(
            f"schedule {new.schedule_id!r} left Redis a moment ago: it was published or cancelled",
            state=IN_FLIGHT,
        )
    # Redis holds the new version now: from here on it is the schedule.
    if cold is None:
        return Rescheduled(new, Tier.HOT, current, source)
    if target is Tier.HOT:
        await _journal(router, [row(new, Status.TRANSFERRED, Tier.HOT, change_version()), *retired])
        return Rescheduled(new, Tier.HOT, current, source)
    try:
        await cold.write([row(new, Status.PENDING, Tier.COLD, change_version()), *retired])
    except ServiceUnavailable as exc:
        log.warning(
            "reschedule of %s: ClickHouse unreachable (%s); it stays in Redis until a sync "
            "moves it to the cold tier",
            new.schedule_id,
            exc,
        )
        await _journal(router, [row(new, Status.TRANSFERRED, Tier.HOT, change_version()), *retired])
        return Rescheduled(new, Tier.HOT, current, source)
    await hot.cancel(new.schedule_id, at=new.scheduled_at)
    return Rescheduled(new, Tier.COLD, current, source)


async def _from_cold(
    router: Router, new: Event, current: Event, target: Tier, retired: list[tuple[Any, ...]]
) -> Rescheduled:
    hot, cold, source = router.hot, router.cold, Tier.COLD
    assert cold is not None
    await cold.write([row(new, Status.PENDING, Tier.COLD, change_version()), *retired])
    # A sync may have moved the old version into Redis since we looked: take it over.
    done = await hot.reschedule(new, add=target is Tier.HOT)
    if done is HotChange.IN_FLIGHT:
        undo = "reschedule refused: the old time was already being published"
        await cold.write([row(new, Status.CANCELLED, Tier.COLD, cancel_version(), error=undo)])
        raise _in_flight(new.schedule_id, "a sync moved it to Redis and it is being published")
    if target is Tier.HOT:
        await cold.write([row(new, Status.TRANSFERRED, Tier.HOT, change_version())])
        return Rescheduled(new, Tier.HOT, current, source)
    if done is HotChange.RESCHEDULED:  # back out of Redis, as a demotion does
        await hot.cancel(new.schedule_id, at=new.scheduled_at)
    return Rescheduled(new, Tier.COLD, current, source)


async def _rows(
    router: Router, schedule_id: str
) -> tuple[list[Schedule], ServiceUnavailable | None]:
    """ClickHouse's current rows of the id, with this process's unwritten journal
    versions counted (read-your-writes); the error if ClickHouse is unreachable."""
    if router.cold is None:
        return [], None
    error: ServiceUnavailable | None = None
    try:
        rows = await router.cold.find([schedule_id])
    except ServiceUnavailable as exc:
        rows, error = [], exc
    buffered = [] if router.journal is None else router.journal.buffered_versions(schedule_id)
    if buffered:
        rows = latest_versions(rows + [Schedule.from_row(r) for r in buffered])
    return rows, error


def _not_pending(schedule_id: str, rows: list[Schedule]) -> Exception:
    if not rows:
        return UnknownSchedule(f"no schedule {schedule_id!r}")
    last = max(rows, key=lambda r: r.updated_us)
    if last.status in FINISHED:
        return ScheduleConflict(
            f"schedule {schedule_id!r} is already {last.status.value}", state=last.status.value
        )
    # ClickHouse says Redis has it, and Redis does not: it fired a moment ago.
    return _in_flight(schedule_id, f"it was {SCHEDULED} and has just been published")


def _in_flight(schedule_id: str, why: str) -> ScheduleConflict:
    return ScheduleConflict(
        f"schedule {schedule_id!r} is in flight ({why}); it can no longer be changed",
        state=IN_FLIGHT,
    )


def _free_time(ev: Event, taken_us: set[int]) -> Event:
    """`ev`, 1 µs later for every time of its id ClickHouse already has a row for."""
    us = micros(ev.scheduled_at)
    if us not in taken_us:
        return ev
    while us in taken_us:
        us += 1
    return dataclasses.replace(ev, scheduled_at=us / 1_000_000)


def _retired(
    current: Event, source: Tier, live: list[Schedule], new: Event
) -> list[tuple[Any, ...]]:
    """The versions retiring every live row of the id (and the time Redis held) other
    than the new time: `cancelled`, saying where it went."""
    old = {r.key: r for r in live}
    key = (micros(current.scheduled_at), current.schedule_id)
    if key not in old:  # its first journal row is not written yet: this version wins
        status = Status.TRANSFERRED if source is Tier.HOT else Status.PENDING
        old[key] = Schedule(current, status, source)
    why = f"rescheduled to {new.scheduled_at_datetime.isoformat()}"
    version = superseded_version()
    return [
        row(s.event, Status.CANCELLED, s.tier, version, attempts=s.attempts, error=why)
        for k, s in old.items()
        if k != (micros(new.scheduled_at), new.schedule_id)
    ]


async def _journal(router: Router, rows: list[tuple[Any, ...]]) -> None:
    """Hot-tier versions: through this process's journal writer (never waiting for
    ClickHouse), else written now."""
    if router.journal is not None:
        router.journal.add_versions(rows)
    elif router.cold is not None:
        await router.cold.write(rows)
