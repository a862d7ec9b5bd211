"""List and search schedules: `SchedulerService.list_schedules`, GET /api/v1/schedules.

A listing is filtered (statuses, tier, topic, entity type, action, a scheduled_at window)
and paged by key, (scheduled_at, schedule_id), earliest first: a page is the schedules
after the cursor, the key of the last one examined. Keys never change, so paging on while
events arrive neither repeats nor skips a schedule that existed when paging started.

With the cold tier, the source is ClickHouse's `event_schedules` (it journals every
schedule), merged with what this process knows first: its journal rows not yet written
(an event accepted a moment ago, one that fired a moment ago), and Redis's live state of
the events on the page (pending, held by a pause, throttled by a rate limit, in flight;
their attempts). Without it, the source is Redis alone: the events it holds (pending,
held, throttled, in flight), scanned in key
order within a bound per page (`SCAN_BUDGET`); their key is their time in Redis, a
retry's time after a failed attempt.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from scheduler.cold.journal import JournalWriter
from scheduler.cold.records import FIRST_VERSION, Schedule, Status, Tier, micros
from scheduler.cold.store import START, ColdStore
from scheduler.errors import InvalidEvent
from scheduler.hot.store import HotState, HotStore, Key
from scheduler.models import Event

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000  # schedules per page
SCAN_BUDGET = 10_000  # Redis-only: events examined per page (and per count) at most
IN_FLIGHT_CAP = 10_000  # Redis-only: claimed events read per page at most
CHUNK = 500  # Redis-only: events read per round trip
MAX_ADJUST = 1000  # cold tier: this process's unwritten schedules looked up for the counts

# What a cursor looks like (opaque to callers; stated so /openapi.json can say it).
CURSOR_PATTERN = r"^-?[0-9]{1,16}\.[A-Za-z0-9._:@-]{1,128}$"
_CURSOR = re.compile(CURSOR_PATTERN)


class State(enum.StrEnum):
    """A schedule's status as callers read it (scheduler.cold.status)."""

    PENDING = "pending"
    PROCESSING = "processing"
    SCHEDULED = "scheduled"
    EXECUTED = "executed"
    SKIPPED = "skipped"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def stored(self) -> Status:
        """The word ClickHouse stores (scheduled is 'transferred')."""
        return Status.TRANSFERRED if self is State.SCHEDULED else Status(self.value)

    @classmethod
    def of(cls, status: Status | str) -> State:
        return cls.SCHEDULED if status == Status.TRANSFERRED else cls(str(status))


def encode_cursor(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


def decode_cursor(text: str) -> Key:
    """The key a cursor names; InvalidEvent (field `cursor`) for anything else."""
    if _CURSOR.fullmatch(text) is None:
        raise InvalidEvent("not a cursor this API returned (next_cursor)", field="cursor")
    us, _, sid = text.partition(".")
    return int(us), sid


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What a listing keeps. Empty `statuses`: every status; None: any value."""

    statuses: frozenset[State] = frozenset()
    tier: Tier | None = None
    topic: str | None = None
    entity_type: str | None = None
    action: str | None = None
    from_us: int | None = None  # scheduled_at >= this
    to_us: int | None = None  # scheduled_at < this

    @property
    def wanted(self) -> frozenset[State]:
        return self.statuses or frozenset(State)

    def cold_params(self) -> dict[str, Any]:
        """The parameters of queries.sql's `list_filter` (the status aside)."""
        return {
            "tier": None if self.tier is None else self.tier.value,
            "topic": self.topic,
            "entity_type": self.entity_type,
            "action": self.action,
            # DateTime64(6)'s range: 1900-01-01 .. 2299-12-31.
            "from_us": -2_208_988_800_000_000 if self.from_us is None else self.from_us,
            "to_us": 10_413_792_000_000_000 if self.to_us is None else self.to_us,
        }

    def keeps(self, *, topic: str, entity_type: str, action: str, tier: str, at_us: int) -> bool:
        """Whether the filters but the status keep a schedule."""
        return self.keeps_key(
            topic=topic, entity_type=entity_type, action=action, at_us=at_us
        ) and self.keeps_tier(tier)

    def keeps_key(self, *, topic: str, entity_type: str, action: str, at_us: int) -> bool:
        """The filters on what every version of a schedule shares."""
        return (
            (self.topic is None or topic == self.topic)
            and (self.entity_type is None or entity_type == self.entity_type)
            and (self.action is None or action == self.action)
            and (self.from_us is None or at_us >= self.from_us)
            and (self.to_us is None or at_us < self.to_us)
        )

    def keeps_tier(self, tier: str) -> bool:
        return self.tier is None or tier == self.tier.value

    def keeps_version(self, s: Schedule) -> bool:
        """Whether the status and tier filters keep this version of a schedule (whose
        key the others kept)."""
        return State.of(s.status) in self.wanted and self.keeps_tier(s.tier)

    @property
    def reads_payloads(self) -> bool:
        """Without the cold tier, whether keeping an event needs its payload."""
        return any(v is not None for v in (self.topic, self.entity_type, self.action))


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


@dataclass(frozen=True, slots=True)
class ListedSchedule:
    """One schedule in a listing: what a table row shows (not its body or headers)."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    schedule_id: str
    status: Annotated[
        State,
        Field(
            description="pending (waiting in ClickHouse), processing (moving into Redis), "
            "scheduled (waiting in Redis; see hot_state), executed, skipped (later than "
            "max_delay_seconds), error (dead-lettered), cancelled."
        ),
    ]
    hot_state: Annotated[
        str | None,
        Field(
            description="While Redis holds it: pending, held (by a pause), throttled (by its "
            "topic's rate limit) or in_flight."
        ),
    ]
    tier: Annotated[str, Field(description="hot (Redis) or cold (ClickHouse).")]
    scheduled_at: datetime
    topic: str
    entity_type: str
    action: str
    priority: int
    attempts: Annotated[int, Field(description="Failed delivery attempts so far.")]
    error: Annotated[str | None, Field(description="The last failure, if any.")]
    correlation_id: str | None
    created_at: datetime
    updated_at: Annotated[datetime, Field(description="The last change of its status.")]


def _listed(s: Schedule, hot: HotState | None = None) -> ListedSchedule:
    ev = s.event
    attempts = s.attempts if hot is None else max(s.attempts, hot.attempts)
    return ListedSchedule(
        schedule_id=ev.schedule_id,
        status=State.of(s.status),
        hot_state=None if hot is None else hot.state,
        tier=s.tier.value,
        scheduled_at=ev.scheduled_at_datetime,
        topic=ev.topic,
        entity_type=ev.entity_type,
        action=ev.action,
        priority=ev.priority,
        attempts=attempts,
        error=s.error,
        correlation_id=ev.correlation_id,
        created_at=_dt(micros(ev.created_at)),
        updated_at=_dt(s.updated_us or micros(ev.created_at)),
    )


@dataclass(frozen=True, slots=True)
class SchedulePage:
    """One page of a listing, and how many schedules the whole filter matches."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    items: list[ListedSchedule]
    next_cursor: Annotated[
        str | None,
        Field(description="Pass as `cursor` for the next page; null: this is the last one."),
    ]
    counts: Annotated[
        dict[str, int] | None,
        Field(
            description="Schedules the filters match (the status filter aside, the cursor "
            "ignored), by status: every status, 0 for none. null when not asked for."
        ),
    ]
    counts_exact: Annotated[
        bool,
        Field(
            description="false: `counts` may be off a little. With the cold tier (counts: "
            "ClickHouse's, with this process's unwritten journal rows applied): it held more "
            "than 1,000 unwritten schedules. Without it: the filter needs every event's "
            "topic, entity type or action and there were more than 10,000 to read (the "
            "counts are those of the first 10,000)."
        ),
    ]
    source: Annotated[
        str, Field(description="clickhouse (with the cold tier) or redis (without it).")
    ]
    limit: int = DEFAULT_LIMIT
    examined: Annotated[
        int,
        Field(
            description="Schedules read for this page. Without the cold tier it is more "
            "than returned when the filters skip events, and a page stops at 10,000 read: "
            "a short page with a next_cursor is not the end."
        ),
    ] = 0


def _no_counts() -> dict[str, int]:
    return {s.value: 0 for s in State}


# --- with the cold tier ---------------------------------------------------------------------


async def list_cold(
    cold: ColdStore,
    hot: HotStore,
    journal: JournalWriter | None,
    f: ListFilter,
    *,
    after: Key | None,
    limit: int,
    counts: bool,
) -> SchedulePage:
    start = START if after is None else after
    stored = sorted(s.stored.value for s in f.wanted)
    # This process's unwritten rows before ClickHouse's: a row the journal writes while
    # the query runs is then in one or both, never in neither.
    buffered = [] if journal is None else journal.buffered_rows()
    rows = await cold.listing(f.cold_params(), stored, limit + 1, after=start)
    more = len(rows) > limit
    rows = rows[:limit]
    upper = rows[-1].key if more else None  # the page covers keys up to this one
    merged = {r.key: r for r in rows}
    from_cold = set(merged)
    for key, version in _unwritten(buffered, f).items():
        if key <= start or (upper is not None and key > upper):
            continue
        known = merged.get(key)
        if known is None or version.version >= known.version:
            merged[key] = version
    candidates = sorted((s for s in merged.values() if f.keeps_version(s)), key=lambda s: s.key)
    cursor = candidates[limit - 1].key if len(candidates) > limit else upper
    page = candidates[:limit]
    page = [s for s in await _newest(cold, page, from_cold) if f.keeps_version(s)]
    live = [s.event.schedule_id for s in page if s.status is Status.TRANSFERRED]
    states = await hot.states(live)
    items = []
    for s in page:
        h = states.get(s.event.schedule_id)
        same = h is not None and micros(h.event.scheduled_at) == s.scheduled_us
        items.append(_listed(s, h if same and s.status is Status.TRANSFERRED else None))
    by_status, exact = None, True
    if counts and journal is None:
        by_status, exact = await _cold_counts(cold, f, {})
    elif counts and journal is not None:
        # ClickHouse and the buffer read with no write in between: each row is in one.
        async with journal.holding_writes():
            unwritten = _unwritten(journal.buffered_rows(), f)
            by_status, exact = await _cold_counts(cold, f, unwritten)
    return SchedulePage(
        items=items,
        next_cursor=None if cursor is None else encode_cursor(cursor),
        counts=by_status,
        counts_exact=exact,
        source="clickhouse",
        limit=limit,
        examined=len(rows),
    )


def _unwritten(buffered: Iterable[Sequence[Any]], f: ListFilter) -> dict[Key, Schedule]:
    """The newest of these unwritten versions of each schedule whose key the filters keep
    (what a schedule's versions share: its tier may change from one to the next)."""
    latest: dict[Key, Schedule] = {}
    for raw in buffered:
        key = (raw[7], raw[0])
        if not f.keeps_key(topic=raw[1], entity_type=raw[2], action=raw[3], at_us=key[0]):
            continue
        version = Schedule.from_row(raw)
        if key not in latest or version.version >= latest[key].version:
            latest[key] = version
    return latest


async def _cold_counts(
    cold: ColdStore, f: ListFilter, unwritten: dict[Key, Schedule]
) -> tuple[dict[str, int], bool]:
    """ClickHouse's counts, with each schedule of this process's `unwritten` versions
    moved to its newest status (ClickHouse's own version looked up, for up to MAX_ADJUST
    schedules; beyond that only the new ones are added, and the counts are not exact)."""
    by_status = _no_counts()
    for status, n in (await cold.listing_counts(f.cold_params())).items():
        by_status[State.of(status).value] += n
    if len(unwritten) > MAX_ADJUST:
        for s in unwritten.values():
            if s.version == FIRST_VERSION and f.keeps_tier(s.tier):
                by_status[State.of(s.status).value] += 1
        return by_status, False
    found = await cold.find(key[1] for key in unwritten)
    written = {r.key: r for r in found if r.key in unwritten}
    for key, newest in unwritten.items():
        known = written.get(key)
        if known is not None and known.version >= newest.version:
            continue  # ClickHouse has it as new: counted as it is
        if known is not None and f.keeps_tier(known.tier):
            by_status[State.of(known.status).value] -= 1
        if f.keeps_tier(newest.tier):
            by_status[State.of(newest.status).value] += 1
    return by_status, True


async def _newest(cold: ColdStore, page: list[Schedule], from_cold: set[Key]) -> list[Schedule]:
    """The page with each schedule known only from this process's unwritten rows checked
    against ClickHouse, which may hold a newer version (written by another process)."""
    unknown = [s for s in page if s.key not in from_cold]
    if not unknown:
        return page
    newer = {
        r.key: r
        for r in await cold.find(s.event.schedule_id for s in unknown)
        if r.key in {s.key for s in unknown}
    }
    out = []
    for s in page:
        other = newer.get(s.key)
        out.append(other if other is not None and other.version > s.version else s)
    return out


# --- without the cold tier: Redis alone -----------------------------------------------------


@dataclass(slots=True)
class _Scan:
    """A walk through Redis's events in key order from `position`, within a budget."""

    hot: HotStore
    f: ListFilter
    position: Key
    in_flight: list[Key] = field(default_factory=list)
    examined: int = 0
    exhausted: bool = False

    async def next_chunk(self, n: int) -> list[tuple[Key, HotState]]:
        """The next up-to-`n` events (fewer: ones that left Redis meanwhile); sets
        `exhausted` when nothing is left in the window."""
        pending = await self.hot.pending_window(self.position, self.f.to_us, n)
        flying = [
            k
            for k in self.in_flight
            if k > self.position and (self.f.to_us is None or k[0] < self.f.to_us)
        ][:n]
        keys = sorted({(us, sid) for us, sid, _ in pending} | set(flying))[:n]
        if not keys:
            self.exhausted = True
            return []
        states = await self.hot.states([sid for _, sid in keys])
        self.examined += len(keys)
        self.position = keys[-1]
        if len(keys) < n:
            self.exhausted = True
        return [(k, states[k[1]]) for k in keys if k[1] in states]

    def keeps(self, key: Key, h: HotState) -> bool:
        ev: Event = h.event
        return self.f.keeps(
            topic=ev.topic, entity_type=ev.entity_type, action=ev.action, tier="hot", at_us=key[0]
        )


def _hot_item(key: Key, h: HotState) -> ListedSchedule:
    ev = h.event
    created = micros(ev.created_at)
    return ListedSchedule(
        schedule_id=ev.schedule_id,
        status=State.SCHEDULED,
        hot_state=h.state,
        tier=Tier.HOT.value,
        scheduled_at=ev.scheduled_at_datetime,
        topic=ev.topic,
        entity_type=ev.entity_type,
        action=ev.action,
        priority=ev.priority,
        attempts=h.attempts,
        error=None,
        correlation_id=ev.correlation_id,
        created_at=_dt(created),
        updated_at=_dt(created),
    )


def _window_start(f: ListFilter, after: Key | None) -> Key:
    first: Key = (-(2**62), "") if f.from_us is None else (f.from_us - 1, "\x7f")
    return first if after is None else max(first, after)


async def list_hot(
    hot: HotStore, f: ListFilter, *, after: Key | None, limit: int, counts: bool
) -> SchedulePage:
    if f.tier is Tier.COLD:  # nothing in Redis is in the cold tier
        return SchedulePage([], None, _no_counts() if counts else None, True, "redis", limit, 0)
    in_flight, _ = await hot.in_flight_keys(IN_FLIGHT_CAP)
    by_status, exact = (None, True)
    if counts:  # the status filter aside
        by_status, exact = await _hot_counts(hot, f, in_flight)
    if State.SCHEDULED not in f.wanted:  # everything in Redis is scheduled
        return SchedulePage([], None, by_status, exact, "redis", limit, 0)
    scan = _Scan(hot, f, _window_start(f, after), in_flight)
    items: list[ListedSchedule] = []
    last: Key | None = None
    while len(items) < limit and scan.examined < SCAN_BUDGET and not scan.exhausted:
        for key, h in await scan.next_chunk(min(CHUNK, SCAN_BUDGET - scan.examined)):
            if scan.keeps(key, h):
                items.append(_hot_item(key, h))
                if len(items) == limit:
                    last = key
                    break
    cursor = last if last is not None else (None if scan.exhausted else scan.position)
    if last is not None and scan.exhausted and last == scan.position:
        cursor = None
    return SchedulePage(
        items=items,
        next_cursor=None if cursor is None else encode_cursor(cursor),
        counts=by_status,
        counts_exact=exact,
        source="redis",
        limit=limit,
        examined=scan.examined,
    )


async def _hot_counts(
    hot: HotStore, f: ListFilter, in_flight: Sequence[Key]
) -> tuple[dict[str, int], bool]:
    by_status = _no_counts()
    if not f.reads_payloads:
        flying = sum(
            1
            for k in in_flight
            if (f.from_us is None or k[0] >= f.from_us) and (f.to_us is None or k[0] < f.to_us)
        )
        by_status[State.SCHEDULED] = await hot.count_window(f.from_us, f.to_us) + flying
        return by_status, True
    scan = _Scan(hot, f, _window_start(f, None), list(in_flight))
    n = 0
    while scan.examined < SCAN_BUDGET and not scan.exhausted:
        chunk = await scan.next_chunk(min(CHUNK, SCAN_BUDGET - scan.examined))
        n += sum(1 for key, h in chunk if scan.keeps(key, h))
    by_status[State.SCHEDULED] = n
    return by_status, scan.exhausted


# --- the query ------------------------------------------------------------------------------


def _utc_us(value: datetime | None, name: str) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidEvent("needs a time zone (e.g. 2030-01-01T00:00:00Z)", field=name)
    return micros(value.timestamp())


def make_filter(
    *,
    status: Iterable[str] = (),
    tier: str | None = None,
    topic: str | None = None,
    entity_type: str | None = None,
    action: str | None = None,
    scheduled_from: datetime | None = None,
    scheduled_to: datetime | None = None,
) -> ListFilter:
    """A ListFilter from a caller's words; InvalidEvent naming the argument otherwise."""
    try:
        statuses = frozenset(State(s) for s in status)
    except ValueError:
        words = ", ".join(s.value for s in State)
        raise InvalidEvent(f"a status is one of {words}", field="status") from None
    try:
        tier_of = None if tier is None else Tier(tier)
    except ValueError:
        raise InvalidEvent("a tier is hot or cold", field="tier") from None
    from_us = _utc_us(scheduled_from, "scheduled_from")
    to_us = _utc_us(scheduled_to, "scheduled_to")
    if from_us is not None and to_us is not None and from_us >= to_us:
        raise InvalidEvent("scheduled_from must be before scheduled_to", field="scheduled_from")
    return ListFilter(statuses, tier_of, topic, entity_type, action, from_us, to_us)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidEvent(f"must be between 1 and {MAX_LIMIT}", field="limit")
    return limit
