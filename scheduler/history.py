"""A schedule's status history: `SchedulerService.schedule_history`, GET
/api/v1/schedules/{schedule_id}/history, the timeline of the console's schedule page.

ClickHouse keeps only the latest version of each (scheduled_at, schedule_id) row, so no
log of every change exists; the history is composed from what is stored:

    created       the first row's created_at, and the tier it was created in
    rescheduled   a reschedule leaves the old time's row `cancelled`, its error saying
                  "rescheduled to <time>": one entry per such row, at its updated_at
    pending / processing / transferred / scheduled
                  the current row's live status (transferred: moved into Redis by a sync;
                  scheduled: what Redis holds now, with its hot state)
    attempt       each delivery attempt's outcome (schedule_execution_results)
    executed / skipped / error / cancelled
                  the final state, at the row's updated_at

Oldest first. Without the cold tier, only what Redis knows (the event while it waits or
is in flight, its failed attempts), and `complete` is false.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

from scheduler.cold.journal import JournalWriter
from scheduler.cold.records import LIVE, Schedule, Status, Tier, micros
from scheduler.cold.status import latest_versions
from scheduler.cold.store import ColdStore
from scheduler.errors import ServiceUnavailable
from scheduler.hot.store import HotStore

MAX_ATTEMPTS_SHOWN = 1000
RESCHEDULED = "rescheduled to "  # the error a reschedule leaves on the old time's row
DAY_US = 86_400_000_000
NO_COLD_TIER = "Only what Redis holds now: the history needs the cold tier (ClickHouse)."


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    kind: Annotated[
        str,
        Field(
            description="created, rescheduled, pending, processing, transferred (moved into "
            "Redis), scheduled (in Redis now), attempt, executed, skipped, error or "
            "cancelled."
        ),
    ]
    detail: Annotated[str, Field(description="What happened, in words.")]
    scheduled_at: Annotated[
        datetime | None, Field(description="The time it was due at when this happened.")
    ] = None
    outcome: Annotated[
        str | None,
        Field(description="An attempt's outcome: success, error, timeout or skipped."),
    ] = None
    error: Annotated[str | None, Field(description="An attempt's or a row's error.")] = None


@dataclass(frozen=True, slots=True)
class ScheduleHistory:
    schedule_id: str
    complete: Annotated[
        bool,
        Field(description="false without the cold tier: only what Redis holds now is known."),
    ]
    entries: Annotated[list[HistoryEntry], Field(description="Oldest first.")]
    note: Annotated[str | None, Field(description="Why the history is partial.")] = None


def _iso(us: int) -> str:
    return _dt(us).isoformat()


def _current(rows: list[Schedule]) -> Schedule:
    """The row whose status callers read (as scheduler.cold.status picks it)."""
    live = [r for r in rows if r.status in LIVE]
    return max(live or rows, key=lambda r: r.updated_us)


def _row_entries(
    rows: list[Schedule], held: tuple[int, str] | None
) -> tuple[list[HistoryEntry], list[HistoryEntry]]:
    """The entries of the rows: (created and the past, the current state)."""
    current = _current(rows)
    now: list[HistoryEntry] = []
    first = min(rows, key=lambda r: (micros(r.event.created_at), r.scheduled_us))
    created_us = micros(first.event.created_at)
    # A sync's version is in the hot tier but was created in the cold one.
    tier = Tier.COLD if first.processing_started_us is not None else first.tier
    out = [
        HistoryEntry(
            at=_dt(created_us),
            kind="created",
            detail=f"created in the {tier.value} tier "
            f"({'Redis' if tier is Tier.HOT else 'ClickHouse'}), "
            f"due {_iso(first.scheduled_us)}",
            scheduled_at=_dt(first.scheduled_us),
        )
    ]
    for r in sorted(rows, key=lambda r: (r.updated_us, r.scheduled_us)):
        at = _dt(r.updated_us or created_us)
        due = _dt(r.scheduled_us)
        hot_state = held[1] if held is not None and held[0] == r.scheduled_us else None
        state = now if r is current else out
        if r.status is Status.CANCELLED and (r.error or "").startswith(RESCHEDULED):
            out.append(
                HistoryEntry(
                    at=at,
                    kind="rescheduled",
                    detail=f"{_iso(r.scheduled_us)} {r.error}",
                    scheduled_at=due,
                )
            )
        elif r.status in LIVE:
            if r.status is Status.TRANSFERRED and r.processing_started_us is not None:
                # A sync's version (it carries the claim's time): moved from ClickHouse.
                by_sync = "moved into Redis by a sync"
                moved = HistoryEntry(at, "transferred", by_sync, scheduled_at=due)
                out.append(moved)
            if hot_state is not None:
                waiting = f"waiting in Redis ({hot_state})"
                state.append(HistoryEntry(at, "scheduled", waiting, scheduled_at=due))
            elif r.status is Status.PENDING:
                state.append(HistoryEntry(at, "pending", "waiting in ClickHouse", scheduled_at=due))
            elif r.status is Status.PROCESSING:
                state.append(HistoryEntry(at, "processing", "moving into Redis", scheduled_at=due))
        else:  # finished
            words = {
                Status.EXECUTED: "published",
                Status.SKIPPED: "not published: later than its max_delay_seconds",
                Status.ERROR: "not published: dead-lettered",
                Status.CANCELLED: "cancelled",
            }
            state.append(
                HistoryEntry(
                    at=at,
                    kind=r.status.value,
                    detail=words.get(r.status, r.status.value),
                    scheduled_at=due,
                    error=r.error,
                )
            )
    return out, now


async def schedule_history(
    cold: ColdStore | None,
    hot: HotStore,
    schedule_id: str,
    journal: JournalWriter | None = None,
) -> ScheduleHistory | None:
    """The schedule's history, oldest first; None if no tier knows the id."""
    states = await hot.states([schedule_id])
    held = states.get(schedule_id)
    if cold is None:
        if held is None:
            return None
        ev = held.event
        due = micros(ev.scheduled_at)
        created = micros(ev.created_at)
        entries = [
            HistoryEntry(
                at=_dt(created),
                kind="created",
                detail=f"created, due {_iso(due)}",
                scheduled_at=_dt(due),
            ),
            HistoryEntry(
                at=_dt(created),
                kind="scheduled",
                detail=f"waiting in Redis ({held.state}); {held.attempts} failed attempt(s)",
                scheduled_at=_dt(due),
            ),
        ]
        return ScheduleHistory(schedule_id, False, entries, NO_COLD_TIER)
    rows: list[Schedule] = []
    try:
        rows = await cold.find([schedule_id])
    except ServiceUnavailable:
        if held is None:
            raise
    buffered = [] if journal is None else journal.buffered_versions(schedule_id)
    if buffered:
        rows = latest_versions(rows + [Schedule.from_row(r) for r in buffered])
    if held is not None:
        due = micros(held.event.scheduled_at)
        if not any(r.scheduled_us == due for r in rows):  # its journal row is not written yet
            rows.append(Schedule(held.event, Status.TRANSFERRED, Tier.HOT))
    if not rows:
        return None
    key = None if held is None else (micros(held.event.scheduled_at), held.state)
    past, now = _row_entries(rows, key)
    entries = past[1:]
    # Attempts come after creation: the read keeps to the partitions since then (a day's
    # margin for clocks and replays of older rows).
    since = min(min(micros(r.event.created_at), r.scheduled_us) for r in rows) - DAY_US
    for a in await cold.attempts(schedule_id, since, MAX_ATTEMPTS_SHOWN):
        outcome = str(a["status"])
        error = a["error_message"]
        entries.append(
            HistoryEntry(
                at=_dt(int(a["executed_us"])),
                kind="attempt",
                detail=f"attempt {int(a['retry_count']) + 1}: {outcome}"
                + (f" ({error})" if error else ""),
                outcome=outcome,
                error=error,
            )
        )
    # Created first, the current (or final) state last, the rest by time (an attempt
    # before the state it led to, when the clocks agree).
    entries.sort(key=lambda e: (e.at, e.kind != "attempt"))
    return ScheduleHistory(schedule_id, True, past[:1] + entries + now)
