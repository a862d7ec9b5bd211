"""A schedule as `event_schedules_log` stores it: statuses, columns and versions.

Every change of a schedule is a new full row with a higher `version` (see migration
0001). Versions come in bands, so that which change wins never depends on the clocks
of two nodes agreeing to the microsecond:

    1          the first insert (cold 'pending', or hot 'transferred'): any later change
               beats it, and inserting the same schedule again (a Kafka redelivery, an API
               retry) never undoes a change that already happened
    t          pending / processing / transferred changes (t = microseconds, monotonic)
    2^61 + t   outcomes (executed, skipped, error): beat every non-final change, e.g. a
               'transferred' stamped on a node whose clock runs ahead of the executor's;
               also the 'cancelled' versions that retire the old time of a rescheduled
               schedule (scheduler.reschedule), so an outcome of that old time, should it
               fire after all, still wins
    2^62 + t   cancelled: only a deletion overrides it, so no sync, demotion or rebuild
               racing a cancel can bring the schedule back
    2^63 + t   deletion tombstones written by cleanup

Times travel as integer microseconds (DateTime64(6) ticks): clickhouse-connect reads and
writes them without building datetime objects, which matters at a million rows a sync.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from scheduler.models import Event

log = logging.getLogger(__name__)

LOG_TABLE = "event_schedules_log"
RESULTS_TABLE = "schedule_execution_results"

FIRST_VERSION = 1
OUTCOME_BAND = 1 << 61
CANCEL_BAND = 1 << 62
TOMBSTONE_BAND = 1 << 63


class Status(enum.StrEnum):
    PENDING = "pending"  # waiting in ClickHouse (cold)
    PROCESSING = "processing"  # claimed by a sync, on its way to Redis
    TRANSFERRED = "transferred"  # in Redis (hot): moved there, or scheduled there directly
    EXECUTED = "executed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    ERROR = "error"


LIVE = frozenset({Status.PENDING, Status.PROCESSING, Status.TRANSFERRED})
FINISHED = frozenset({Status.EXECUTED, Status.CANCELLED, Status.SKIPPED, Status.ERROR})


class Tier(enum.StrEnum):
    HOT = "hot"
    COLD = "cold"


# Columns a writer supplies, in this order (is_deleted defaults to 0).
COLUMNS = (
    "schedule_id", "topic", "entity_type", "action", "body", "correlation_id", "headers",
    "scheduled_at", "max_delay_seconds", "priority", "status", "tier", "attempts", "error",
    "processing_started_at", "created_at", "updated_at", "version",
)  # fmt: skip

# What a first version sets (first_columns): attempts, error and processing_started_at
# are left to their defaults (0, NULL, NULL), which is what a first version holds.
FIRST_COLUMNS = tuple(c for c in COLUMNS if c not in ("attempts", "error", "processing_started_at"))

BYTES = {"body": "bytes"}  # bodies are arbitrary bytes, not text


def micros(ts: float) -> int:
    """Unix seconds -> integer microseconds, rounded as the hot tier's codec rounds."""
    return round(ts * 1_000_000)


class _Clock:
    """Microseconds that never repeat or go back within this process."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            return self._last


change_clock = _Clock()


def change_version() -> int:
    return change_clock()


def outcome_version() -> int:
    return OUTCOME_BAND + change_clock()


def superseded_version() -> int:
    """The version retiring a rescheduled schedule's old time (in the outcome band)."""
    return OUTCOME_BAND + change_clock()


def cancel_version() -> int:
    return CANCEL_BAND + change_clock()


def tombstone_version() -> int:
    return TOMBSTONE_BAND + change_clock()


def row(
    ev: Event,
    status: Status,
    tier: Tier,
    version: int,
    *,
    updated_us: int | None = None,
    attempts: int = 0,
    error: str | None = None,
    started_us: int | None = None,
) -> tuple[Any, ...]:
    """One full version of `ev` in COLUMNS order (updated_at: now, or `updated_us`).

    On every ingested event's path: kept cheap (no per-row clock call or enum lookup).
    """
    return (
        ev.schedule_id,
        ev.topic,
        ev.entity_type,
        ev.action,
        ev.body,
        ev.correlation_id or "",
        orjson.dumps(ev.headers).decode() if ev.headers else "{}",
        round(ev.scheduled_at * 1_000_000),
        ev.max_delay_seconds,
        ev.priority,
        str(status),
        str(tier),
        min(attempts, 65535),
        error,
        started_us,
        round(ev.created_at * 1_000_000),
        time.time_ns() // 1000 if updated_us is None else updated_us,
        version,
    )


def first_rows(events: Iterable[Event], status: Status, tier: Tier) -> list[tuple[Any, ...]]:
    """First versions of newly stored events (FIRST_VERSION, updated_at = created_at)."""
    return [row(ev, status, tier, FIRST_VERSION, updated_us=micros(ev.created_at)) for ev in events]


def first_columns(events: Sequence[Event], status: Status, tier: Tier) -> list[list[Any]]:
    """`first_rows` as columns (FIRST_COLUMNS, the others' defaults are the same), for a
    column-oriented insert: one list per column built in one pass each, with no row
    tuples to build and take apart again (the journal of every ingested event goes
    through here)."""
    n = len(events)
    created = [round(ev.created_at * 1_000_000) for ev in events]
    dumps = orjson.dumps
    return [
        [ev.schedule_id for ev in events],
        [ev.topic for ev in events],
        [ev.entity_type for ev in events],
        [ev.action for ev in events],
        [ev.body for ev in events],
        [ev.correlation_id or "" for ev in events],
        [dumps(ev.headers).decode() if ev.headers else "{}" for ev in events],
        [round(ev.scheduled_at * 1_000_000) for ev in events],
        [ev.max_delay_seconds for ev in events],
        [ev.priority for ev in events],
        [str(status)] * n,
        [str(tier)] * n,
        created,
        created.copy(),  # updated_at: its own list, so extending one column extends one
        [FIRST_VERSION] * n,
    ]


def _headers(text: str) -> dict[str, str]:
    if not text or text == "{}":
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        # Not written by us (an operator's insert?): fire without them, rather than let
        # one row stop every sync.
        # Not their text: headers may carry tokens for the event's consumer.
        log.error("unreadable headers (%d characters) in event_schedules: ignored", len(text))
        return {}
    return {str(k): str(v) for k, v in value.items()}


@dataclass(slots=True)
class Schedule:
    """The current version of one schedule, as read from `event_schedules`."""

    event: Event
    status: Status
    tier: Tier
    attempts: int = 0
    error: str | None = None
    processing_started_us: int | None = None
    updated_us: int = 0
    version: int = 0

    @property
    def key(self) -> tuple[int, str]:
        """The table's sorting key: (scheduled_at in µs, schedule_id)."""
        return micros(self.event.scheduled_at), self.event.schedule_id

    @property
    def scheduled_us(self) -> int:
        return micros(self.event.scheduled_at)

    def version_row(
        self,
        status: Status,
        tier: Tier,
        version: int,
        *,
        attempts: int | None = None,
        error: str | None = None,
        started_us: int | None = None,
    ) -> tuple[Any, ...]:
        """This schedule with a new status: every other column carried over."""
        return row(
            self.event,
            status,
            tier,
            version,
            attempts=self.attempts if attempts is None else attempts,
            error=error,
            started_us=started_us,
        )

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> Schedule:
        (sid, topic, entity_type, action, body, corr, headers, at_us, max_delay, prio, status,
         tier, attempts, error, started_us, created_us, updated_us, version) = r  # fmt: skip
        ev = Event(
            schedule_id=sid,
            topic=topic,
            body=body,
            scheduled_at=at_us / 1_000_000,
            entity_type=entity_type,
            action=action,
            correlation_id=corr or None,
            headers=_headers(headers),
            max_delay_seconds=max_delay,
            priority=prio,
            created_at=created_us / 1_000_000,
        )
        return cls(ev, Status(status), Tier(tier), attempts, error, started_us, updated_us, version)
