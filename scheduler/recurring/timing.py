"""When a recurring schedule fires: its occurrences' times, ids and jitter. Pure logic.

Times are whole Unix seconds (`nominal`: the rule's time, before jitter).

A cron expression is matched against the wall clock of the definition's time zone, and
each matching wall-clock time becomes one instant:

- a wall-clock time that does not exist (skipped when clocks go forward) fires once, at
  the first valid instant after it: the transition itself (02:30 on the night Berlin
  goes from 02:00 to 03:00 fires at 03:00 CEST); several such times fire once;
- a wall-clock time that exists twice (clocks go back) fires once, at the first of the two.

An interval counts real seconds from its anchor (start_at, else the creation time), so
time zones and DST do not touch it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from scheduler.models import SCHEDULE_ID_RE
from scheduler.recurring.model import RecurringRequest

# Wall-clock matches that may map to no new instant (DST) before a scan gives up.
_SCAN_SLACK = 10_000
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z, the event's upper bound


@dataclass(frozen=True, slots=True)
class Occurrence:
    schedule_id: str
    nominal: int  # the rule's time (Unix s)
    at: float  # when it fires: nominal + its jitter (Unix s)


def occurrence_id(recurring_id: str, generation: int, nominal: int) -> str:
    """`<recurring_id>@<generation>@<unix seconds>`: the schedule_id of one occurrence."""
    sid = f"{recurring_id}@{generation}@{nominal}"
    assert SCHEDULE_ID_RE.fullmatch(sid), sid  # 64 + 1 + 19 + 1 + 12 < 128
    return sid


def parse_occurrence_id(schedule_id: str) -> tuple[str, int, int] | None:
    """(recurring_id, generation, nominal) of an occurrence's schedule_id, else None."""
    parts = schedule_id.split("@")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].lstrip("-").isdigit():
        return None
    return parts[0], int(parts[1]), int(parts[2])


def jitter(recurring_id: str, nominal: int, jitter_seconds: float) -> float:
    """A fixed delay in [0, jitter_seconds) for one occurrence (to the millisecond): the
    same however often it is computed, so materialising again gives the same time."""
    if jitter_seconds <= 0:
        return 0.0
    digest = hashlib.blake2b(f"{recurring_id}@{nominal}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return math.floor(fraction * jitter_seconds * 1000) / 1000


def _instant(naive: datetime, tz: ZoneInfo) -> int:
    """The Unix second of a wall-clock time in `tz` (the rules in the module docstring)."""
    first = naive.replace(tzinfo=tz, fold=0)
    t = int(first.timestamp())
    if datetime.fromtimestamp(t, tz).replace(tzinfo=None) == naive:
        return t  # it exists (fold=0: the first of two, if it exists twice)
    # In a gap: the first instant whose wall clock is past `naive` (the transition).
    lo, hi = sorted((int(naive.replace(tzinfo=tz, fold=1).timestamp()), t))
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) > naive:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _bounds(req: RecurringRequest) -> tuple[int, int]:
    """The first and last second an occurrence may have."""
    first = math.ceil(req.start_at.timestamp()) if req.start_at else 0
    last = math.floor(req.end_at.timestamp()) if req.end_at else MAX_TIME
    return first, min(last, MAX_TIME)


def _cron_scan(req: RecurringRequest, start: int, reverse: bool) -> Iterator[int]:
    """Instants of the cron expression after `start` (before it with `reverse`), in order,
    each once."""
    assert req.cron is not None
    tz = ZoneInfo(req.timezone)
    wall = datetime.fromtimestamp(start, tz).replace(tzinfo=None)
    last = start
    try:
        for naive in CronSim(req.cron, wall, reverse=reverse):
            t = _instant(naive, tz)
            if (t < last) if reverse else (t > last):
                last = t
                yield t
            else:
                yield -1  # no new instant (a DST gap or repeat): lets the caller count
    except (CronSimError, StopIteration, ValueError, OverflowError):
        return  # past the years cronsim or datetime can represent


def times_after(
    req: RecurringRequest, anchor: int, after: int, until: int, limit: int
) -> list[int]:
    """Up to `limit` nominal times in (after, until], earliest first."""
    first, last = _bounds(req)
    until = min(until, last)
    out: list[int] = []
    if req.interval_seconds is not None:
        step = req.interval_seconds
        base = max(anchor, first) if req.start_at is None else first
        k = max(0, (max(after, first - 1) - base) // step + 1)
        t = base + k * step
        while t <= until and len(out) < limit:
            out.append(t)
            t += step
        return out
    slack = _SCAN_SLACK
    for t in _cron_scan(req, max(after, first - 1), reverse=False):
        if t < 0:
            slack -= 1
            if slack <= 0:
                break
            continue
        if t > until or len(out) >= limit:
            break
        out.append(t)
    return out


def times_before(
    req: RecurringRequest, anchor: int, after: int, before: int, limit: int
) -> list[int]:
    """Up to `limit` nominal times in (after, before), latest first (missed occurrences)."""
    first, last = _bounds(req)
    after = max(after, first - 1)
    before = min(before, last + 1)
    out: list[int] = []
    if before <= after + 1:
        return out
    if req.interval_seconds is not None:
        step = req.interval_seconds
        base = first if req.start_at is not None else anchor
        if before <= base:
            return out
        t = base + ((before - 1 - base) // step) * step
        while t > after and t >= base and len(out) < limit:
            out.append(t)
            t -= step
        return out
    slack = _SCAN_SLACK
    for t in _cron_scan(req, before, reverse=True):
        if t < 0:
            slack -= 1
            if slack <= 0:
                break
            continue
        if t <= after or len(out) >= limit:
            break
        out.append(t)
    return out


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
