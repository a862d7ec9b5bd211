"""Listing and replaying dead letters (SchedulerService.list_dead_letters and
.replay_dead_letters; the HTTP API and the CLI go through them).

A replay stores the recovered event like any other (the router: tier, idempotency,
journal), at once (an ingest envelope: at its own time), as the same schedule_id or as
a new one (model.Mode). Replaying is idempotent: each dead letter has a replay key
(recover.Found.replay_key: the event's (scheduled_at, schedule_id) when known, so its
topic message and its cold row share one; else the topic message's place), and Redis
remembers under it, for SCHEDULES_SCHEDULE_RETENTION_DAYS, the schedule_id it was
replayed as (`...:replayed:<key>`, taken with SET NX before storing, so two concurrent
replays of one dead letter schedule it once). A replay's new id is a hash of the key, so
even a replay whose record was lost (Redis lost its data) is refused while it is pending.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduler.cold.records import Status
from scheduler.cold.store import ColdStore
from scheduler.deadletters.model import (
    DeadLetter,
    Mode,
    Outcome,
    Page,
    Query,
    Reason,
    ReplayItem,
    ReplayResult,
    Source,
)
from scheduler.deadletters.recover import (
    Found,
    from_record,
    from_schedule,
    merge,
    parse_cold_id,
    parse_topic_id,
    replay_schedule_id,
)
from scheduler.deadletters.topic import DeadLetterTopic
from scheduler.errors import InvalidEvent
from scheduler.hot.store import HotStore
from scheduler.models import Event, Limits
from scheduler.router import Router, Stored
from scheduler.settings import Settings

StoreEvents = Callable[..., Awaitable[list[Stored]]]

# How long a dead letter stays marked while its replay is being stored: a replay that
# dies midway frees it after this.
REPLAYING_SECONDS = 60.0
_MAX_US = 253402300799_999999  # 9999-12-31, ClickHouse's DateTime64 max


@dataclass(frozen=True, slots=True)
class Replay:
    """Which dead letters to replay (`ids`, else those `query` matches), how, and whether
    only to report what would happen."""

    ids: tuple[str, ...] | None = None
    query: Query = dataclasses.field(default_factory=Query)
    mode: Mode = Mode.SAME_ID
    dry_run: bool = False


def _us(at: datetime | None, default: int) -> int:
    if at is None:
        return default
    return min(_MAX_US, max(0, round(at.timestamp() * 1_000_000)))


class DeadLetters:
    def __init__(
        self,
        settings: Settings,
        hot: HotStore,
        cold: ColdStore | None,
        router: Router,
        store: StoreEvents,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`store`: SchedulerService.store_events (a replay is stored like any event)."""
        self.hot = hot
        self.cold = cold
        self.router = router
        self.store = store
        self.limits = Limits.from_settings(settings)
        self.topic = DeadLetterTopic(settings, scan_limit=settings.dead_letter_scan_limit)
        self.remember_seconds = settings.schedule_retention_days * 86400.0
        self.clock = clock

    # --- listing -------------------------------------------------------------------------

    async def listing(self, query: Query) -> Page:
        found, scanned, complete = await self._matching(query)
        items = [f.item for f in found]
        await self._note_replays(found)
        return Page(
            items=items,
            count=len(items),
            scanned=scanned,
            complete=complete,
            cold_tier=self.cold is not None,
        )

    async def _matching(self, query: Query) -> tuple[list[Found], int, bool]:
        now = self.clock()
        since_us, until_us = _us(query.since, 0), _us(query.until, _MAX_US)
        topic_found: list[Found] = []
        scanned, complete = 0, True
        if query.source in (Source.ALL, Source.TOPIC):
            scan = await self.topic.scan(
                None if query.since is None else since_us // 1000,
                None if query.until is None else until_us // 1000,
            )
            scanned, complete = scan.scanned, scan.complete
            topic_found = [from_record(r, self.limits, now) for r in scan.records]
        cold_found: list[Found] = []
        if self.cold is not None and query.source in (Source.ALL, Source.COLD):
            reason = None if query.reason in (None, Reason.UNKNOWN) else str(query.reason)
            rows = await self.cold.dead_lettered(
                since_us, until_us, query.limit, topic=query.topic, reason=reason
            )
            complete = complete and len(rows) < query.limit
            cold_found = [from_schedule(r) for r in rows]
        if query.source is Source.COLD:
            topic_found = []
        matched = [
            f for f in merge(cold_found, topic_found) if _matches(f.item, query, since_us, until_us)
        ]
        matched.sort(key=lambda f: (f.item.dead_lettered_at, f.item.id), reverse=True)
        if len(matched) > query.limit:
            complete = False
        return matched[: query.limit], scanned, complete

    async def _note_replays(self, found: Sequence[Found]) -> dict[str, str]:
        earlier = await self.hot.replayed([f.replay_key for f in found])
        for f in found:
            f.item.replayed_as = earlier.get(f.replay_key)
        return earlier

    # --- replay --------------------------------------------------------------------------

    async def replay(self, request: Replay) -> ReplayResult:
        if request.ids is not None:
            selected = await self._by_id(request.ids)
        else:
            found, _, _ = await self._matching(request.query)
            selected = [(f.item.id, f) for f in found]
        earlier = await self._note_replays([f for _, f in selected if f is not None])
        now = self.clock()
        items: list[ReplayItem] = []
        todo: list[tuple[ReplayItem, Found, Event]] = []
        seen: dict[str, str] = {}
        for item_id, f in selected:
            result = ReplayItem(id=item_id, outcome=Outcome.NOT_FOUND)
            items.append(result)
            if f is None:
                result.detail = "no dead letter with this id"
                continue
            result.original_schedule_id, result.topic = f.item.schedule_id, f.item.topic
            if f.replay_key in seen:
                result.outcome = Outcome.ALREADY_REPLAYED
                result.detail = f"the same dead letter as {seen[f.replay_key]}"
                continue
            seen[f.replay_key] = item_id
            if f.event is None:
                result.outcome = Outcome.NOT_REPLAYABLE
                result.detail = f.item.not_replayable_reason
                continue
            if f.replay_key in earlier:
                result.outcome = Outcome.ALREADY_REPLAYED
                result.schedule_id = earlier[f.replay_key]
                continue
            event = self._replay_event(f, request.mode, now)
            result.schedule_id, result.scheduled_at = event.schedule_id, _at(event)
            try:
                self.router.check(event, now)
            except InvalidEvent as exc:
                result.outcome, result.detail = Outcome.NOT_REPLAYABLE, str(exc)
                continue
            result.outcome = Outcome.WOULD_REPLAY
            todo.append((result, f, event))
        if not request.dry_run and todo:
            await self._store(todo, now)
        return _result(request, items)

    def _replay_event(self, f: Found, mode: Mode, now: float) -> Event:
        assert f.event is not None
        schedule_id = replay_schedule_id(f, mode)
        assert schedule_id is not None
        return dataclasses.replace(
            f.event,
            schedule_id=schedule_id,
            scheduled_at=f.event.scheduled_at if f.keeps_time else now,
            created_at=now,
            headers=dict(f.event.headers),
        )

    async def _store(self, todo: list[tuple[ReplayItem, Found, Event]], now: float) -> None:
        free = await self.hot.begin_replays([f.replay_key for _, f, _ in todo], REPLAYING_SECONDS)
        taken = []
        for (result, f, event), ok in zip(todo, free, strict=True):
            if ok:
                taken.append((result, f, event))
            else:
                result.outcome = Outcome.ALREADY_REPLAYED
                result.detail = "being replayed by another request"
        if not taken:
            return
        try:
            stored = await self.store([e for _, _, e in taken], now, source="replay")
        except BaseException:
            await self.hot.end_replays({f.replay_key: None for _, f, _ in taken}, 1.0)
            raise
        done: dict[str, str | None] = {}
        for (result, f, event), s in zip(taken, stored, strict=True):
            if s.added:
                result.outcome = Outcome.REPLAYED
                done[f.replay_key] = event.schedule_id
            else:
                result.outcome = Outcome.ALREADY_SCHEDULED
                result.detail = f"a live schedule already has the schedule_id {event.schedule_id}"
                done[f.replay_key] = None
        await self.hot.end_replays(done, self.remember_seconds)

    async def _by_id(self, ids: Sequence[str]) -> list[tuple[str, Found | None]]:
        """Each id with its dead letter (None: there is none)."""
        now = self.clock()
        places = {i: p for i in ids if (p := parse_topic_id(i)) is not None}
        rows = {i: k for i in ids if (k := parse_cold_id(i)) is not None}
        records = await self.topic.fetch(places.values()) if places else {}
        by_place = {p: from_record(r, self.limits, now) for p, r in records.items()}
        found: dict[str, Found] = {}
        if self.cold is not None:
            # Cold rows asked for, and those of events found on the topic: the row has
            # every field of the event (priority, max_delay_seconds), the topic not all.
            keys = {k for k in rows.values()}
            keys |= {
                (round(f.event.scheduled_at * 1_000_000), f.event.schedule_id)
                for f in by_place.values()
                if f.event is not None and f.replay_key.startswith("e:")
            }
            errors = await self._cold_errors(keys)
            for i, key in rows.items():
                if key in errors:
                    found[i] = errors[key]
            for f in by_place.values():
                if f.event is not None and f.replay_key.startswith("e:"):
                    key = (round(f.event.scheduled_at * 1_000_000), f.event.schedule_id)
                    if key in errors:
                        f.event = errors[key].event
                        f.item.sources.append(Source.COLD)
        for i, place in places.items():
            if place in by_place:
                found[i] = by_place[place]
        return [(i, found.get(i)) for i in ids]

    async def _cold_errors(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Found]:
        assert self.cold is not None
        if not keys:
            return {}
        rows = await self.cold.find(sid for _, sid in keys)
        return {r.key: from_schedule(r) for r in rows if r.status is Status.ERROR and r.key in keys}


def _at(event: Event) -> datetime:
    return event.scheduled_at_datetime


def _matches(item: DeadLetter, q: Query, since_us: int, until_us: int) -> bool:
    if q.reason is not None and item.reason is not q.reason:
        return False
    if q.topic is not None and item.topic != q.topic:
        return False
    at = round(item.dead_lettered_at.timestamp() * 1_000_000)
    return since_us <= at <= until_us


def _result(request: Replay, items: list[ReplayItem]) -> ReplayResult:
    counts = {o: sum(1 for i in items if i.outcome is o) for o in Outcome}
    return ReplayResult(
        dry_run=request.dry_run,
        mode=request.mode,
        selected=len(items),
        replayed=counts[Outcome.REPLAYED],
        would_replay=counts[Outcome.WOULD_REPLAY],
        skipped=len(items) - counts[Outcome.REPLAYED] - counts[Outcome.WOULD_REPLAY],
        items=items,
    )
