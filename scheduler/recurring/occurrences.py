"""Materialising a definition's occurrences as ordinary events, and cancelling them.

`plan` (pure) says which occurrences one run stores: the missed ones its catch-up policy
keeps, then those due within the window ahead. Every occurrence is an Event with the
schedule_id `<recurring_id>@<generation>@<unix seconds>`, stored through the Router like
any other event, so storing it twice stores it once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.cold.cancel import cancel_schedule
from scheduler.cold.journal import JournalWriter
from scheduler.cold.records import Status, Tier, cancel_version, row
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.models import Event
from scheduler.recurring.model import CatchUp, RecurringDefinition
from scheduler.recurring.timing import (
    Occurrence,
    jitter,
    occurrence_id,
    times_after,
    times_before,
)

log = logging.getLogger(__name__)

MAX_PER_RUN = 1000  # occurrences one definition materialises per run (bounded batches)


@dataclass(frozen=True, slots=True)
class Plan:
    occurrences: list[Occurrence]
    until: int  # the mark after storing them


def plan(d: RecurringDefinition, mark_until: int, now: float, window_seconds: float) -> Plan:
    """What to materialise for `d`, whose generation is materialised up to `mark_until`.

    Missed occurrences (in (mark_until, now]) follow the catch-up policy and fire now;
    the ones after now fire at their time plus jitter, for nominal times up to now +
    window - jitter_seconds (so a jittered occurrence still lands within the window).
    """
    now_s = math.floor(now)
    anchor = math.floor(d.created_at.timestamp())
    keep = {CatchUp.SKIP: 0, CatchUp.LATEST: 1, CatchUp.ALL: d.catch_up_limit}[d.catch_up]
    missed = times_before(d, anchor, mark_until, now_s + 1, keep) if keep else []
    horizon = max(now_s, math.floor(now + window_seconds - d.jitter_seconds))
    after = max(mark_until, now_s)
    ahead = times_after(d, anchor, after, horizon, MAX_PER_RUN)
    until = ahead[-1] if len(ahead) == MAX_PER_RUN else max(after, horizon)
    occurrences = [
        Occurrence(occurrence_id(d.recurring_id, d.generation, t), t, now) for t in reversed(missed)
    ] + [
        Occurrence(
            occurrence_id(d.recurring_id, d.generation, t),
            t,
            t + jitter(d.recurring_id, t, d.jitter_seconds),
        )
        for t in ahead
    ]
    return Plan(occurrences, until)


def preview(d: RecurringDefinition, after: float, count: int) -> list[Occurrence]:
    """The next `count` occurrences after `after` (Unix s), as they would fire."""
    anchor = math.floor(d.created_at.timestamp())
    return [
        Occurrence(
            occurrence_id(d.recurring_id, d.generation, t),
            t,
            t + jitter(d.recurring_id, t, d.jitter_seconds),
        )
        for t in times_after(d, anchor, math.floor(after), 2**62, count)
    ]


def events(base: Event, occurrences: Sequence[Occurrence]) -> list[Event]:
    """One event per occurrence: the template's, under the occurrence's id and time."""
    return [
        dataclasses.replace(
            base, schedule_id=o.schedule_id, scheduled_at=o.at, headers=dict(base.headers)
        )
        for o in occurrences
    ]


async def cancel_occurrences(
    hot: HotStore,
    cold: ColdStore | None,
    journal: JournalWriter | None,
    tracked: Sequence[tuple[str, float]],
    now: float,
) -> int:
    """Cancel pending occurrences; returns how many were cancelled.

    Materialised occurrences are due within the window, so Redis holds them: each is
    cancelled there, and with the cold tier its journal gets the 'cancelled' version (as
    scheduler.cold.cancel does for one event). One no longer in Redis fired already, or
    was demoted by an operator lowering the immediate horizon: one due later than `now`
    is cancelled through the cold tier.
    """
    schedule_ids = [sid for sid, _ in tracked]
    due = dict(tracked)
    copies = await hot.events(schedule_ids)
    cancelled = 0
    rows = []
    for sid in schedule_ids:
        if await hot.cancel(sid):
            cancelled += 1
            copy = copies.get(sid)
            if copy is not None and cold is not None:
                rows.append(row(copy, Status.CANCELLED, Tier.HOT, cancel_version()))
        elif (
            cold is not None
            and sid not in copies
            and due[sid] > now
            and await cancel_schedule(cold, hot, sid, journal)
        ):
            cancelled += 1
    if rows:
        if journal is not None:
            journal.add_versions(rows)
        elif cold is not None:
            await cold.write(rows)
    return cancelled
