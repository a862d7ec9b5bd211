"""The cold tier's reads and writes: every query the product runs on ClickHouse.

The queries themselves are in queries.sql, by name (scheduler.cold.queries.QUERIES);
ColdStore is what sends them. Writes are batched inserts of full-row versions
(scheduler.cold.records), never ALTER UPDATE. Reads go through the `event_schedules` view
(FINAL), so each schedule is seen once, in its current version; the ones that can be
bounded by the sorting key (scheduled_at, schedule_id) are, so they read a window of the
table, not all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from scheduler.cold.clickhouse import ClickHouse, Rows
from scheduler.cold.queries import QUERIES
from scheduler.cold.records import (
    BYTES,
    COLUMNS,
    FIRST_COLUMNS,
    LOG_TABLE,
    RESULTS_TABLE,
    Schedule,
    Status,
    Tier,
    first_columns,
)
from scheduler.models import Event

RESULT_COLUMNS = (
    "execution_id", "schedule_id", "correlation_id", "topic", "entity_type", "action",
    "scheduled_at", "executed_at", "delay_seconds", "status", "error_message", "retry_count",
    "processing_time_ms", "node_id",
)  # fmt: skip
START = (-(2**62), "")  # a key before every real one
RECURRING_TABLE = "recurring_schedules"
RECURRING_COLUMNS = ("recurring_id", "definition", "version", "is_deleted", "updated_at")


class ColdStore:
    """Schedules, execution results and their figures in ClickHouse. Every method is a
    few bounded statements."""

    def __init__(self, ch: ClickHouse) -> None:
        self.ch = ch

    # --- writes --------------------------------------------------------------------------

    async def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert schedule versions (records.COLUMNS order) as one batch."""
        await self.ch.insert(LOG_TABLE, rows, COLUMNS)

    async def write_new(self, cold: Sequence[Event], hot: Sequence[Event] = ()) -> None:
        """First versions of new schedules, as one batch: 'pending' for `cold` events
        (waiting in ClickHouse), the journal rows of `hot` events just stored in Redis."""
        if not cold:
            await self.write_journal(hot)
            return
        columns = first_columns(cold, Status.PENDING, Tier.COLD)
        if hot:
            for column, more in zip(
                columns, first_columns(hot, Status.TRANSFERRED, Tier.HOT), strict=True
            ):
                column += more
        await self.ch.insert(LOG_TABLE, columns, FIRST_COLUMNS, column_oriented=True)

    async def write_journal(self, hot: Sequence[Event]) -> None:
        """The journal rows of `hot` events just stored in Redis, as one batch."""
        if hot:
            await self.write_first(first_columns(hot, Status.TRANSFERRED, Tier.HOT))

    async def write_first(self, columns: Sequence[Sequence[Any]]) -> None:
        """First versions as records.first_columns makes them (FIRST_COLUMNS), as one
        column-oriented insert: the cheapest way in for Kafka ingest's large batches."""
        await self.ch.insert(LOG_TABLE, columns, FIRST_COLUMNS, column_oriented=True)

    async def claim_range(
        self, first: tuple[int, str], last: tuple[int, str], started_us: int, version: int
    ) -> None:
        """Mark every pending schedule with a key in [first, last] 'processing', started
        at `started_us` (which then names this claim)."""
        params = self._range(first, last, started_us, version, "cold")
        await self.ch.command(QUERIES["claim_range"], params)

    async def transfer_claimed(
        self, first: tuple[int, str], last: tuple[int, str], started_us: int, version: int
    ) -> None:
        """Mark 'transferred' the schedules the claim `started_us` took in [first, last]
        (and that are still 'processing': a cancel or a skip since wins anyway)."""
        params = self._range(first, last, started_us, version, "hot")
        await self.ch.command(QUERIES["transfer_claimed"], {**params, "status": "transferred"})

    @staticmethod
    def _range(
        first: tuple[int, str], last: tuple[int, str], started_us: int, version: int, tier: str
    ) -> dict[str, Any]:
        return {
            "status": "processing",
            "tier": tier,
            "started": started_us,
            "version": version,
            "lo": first[0],
            "lo_id": first[1],
            "hi": last[0],
            "hi_id": last[1],
        }

    async def write_results(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert execution results (RESULT_COLUMNS order) as one batch."""
        await self.ch.insert(RESULTS_TABLE, rows, RESULT_COLUMNS)

    # --- reads ---------------------------------------------------------------------------

    async def _schedules(self, query: str, params: dict[str, Any], limit: int) -> list[Schedule]:
        rows = await self.ch.query_rows(
            QUERIES[query], {**params, "limit": limit}, column_formats=BYTES
        )
        return [Schedule.from_row(r) for r in rows.rows]

    async def due(
        self, until_us: int, limit: int, *, after: tuple[int, str] = START
    ) -> list[Schedule]:
        """Pending schedules due by `until_us` after the key `after`, earliest first: the
        sync's window query."""
        return await self.in_status(Status.PENDING, limit, after=after, until_us=until_us)

    async def in_status(
        self,
        status: Status,
        limit: int,
        *,
        after: tuple[int, str] = START,
        until_us: int | None = None,
    ) -> list[Schedule]:
        """Schedules in `status` after the key `after` (for paging), earliest first;
        with `until_us`, only those due by then."""
        params: dict[str, Any] = {
            "status": status.value,
            "after_us": after[0],
            "after_id": after[1],
        }
        if until_us is None:
            return await self._schedules("in_status", params, limit)
        return await self._schedules("in_status_until", {**params, "until": until_us}, limit)

    async def find(self, schedule_ids: Iterable[str]) -> list[Schedule]:
        """Every current schedule with one of these ids (the bloom filter index finds
        them; the same id can exist at several scheduled times)."""
        ids = list(dict.fromkeys(schedule_ids))
        if not ids:
            return []
        return await self._schedules("find", {"ids": ids}, limit=len(ids) * 16)

    async def listing(
        self,
        where: dict[str, Any],
        statuses: Sequence[str],
        limit: int,
        *,
        after: tuple[int, str] = START,
    ) -> list[Schedule]:
        """A page of GET /api/v1/schedules: schedules in `statuses` passing the filters
        `where` (list_filter's parameters), after the key `after`, earliest first; bodies
        and headers left out."""
        params = {**where, "statuses": list(statuses), "after_us": after[0], "after_id": after[1]}
        return await self._schedules("list", params, limit)

    async def listing_counts(self, where: dict[str, Any]) -> dict[str, int]:
        """How many schedules pass the filters `where`, by stored status (none: left out)."""
        rows = await self.ch.query_rows(QUERIES["list_counts"], where)
        return {str(st): int(n) for st, n in rows.rows}

    async def dead_lettered(
        self,
        since_us: int,
        until_us: int,
        limit: int,
        *,
        topic: str | None = None,
        reason: str | None = None,
    ) -> list[Schedule]:
        """Schedules that ended in 'error' between these times, newest first."""
        params = {"since": since_us, "until": until_us, "topic": topic, "reason": reason}
        return await self._schedules("dead_lettered", params, limit)

    async def cancelled(self, schedules: Sequence[Schedule]) -> set[tuple[int, str]]:
        """The keys of these schedules that are cancelled now. The sync and the rebuild
        call this on batches that are contiguous in scheduled_at: one key range is read,
        and only cancelled rows come back."""
        if not schedules:
            return set()
        keys = {s.key for s in schedules}
        rows = await self.ch.query_rows(
            QUERIES["cancelled_between"],
            {"lo": min(k[0] for k in keys), "hi": max(k[0] for k in keys)},
        )
        return {(at, sid) for at, sid in rows.rows if (at, sid) in keys}

    async def count_by_status(self, statuses: Iterable[Status]) -> dict[str, int]:
        """How many schedules are in each of `statuses` now (0 for none)."""
        wanted = [s.value for s in statuses]
        rows = await self.ch.query_rows(QUERIES["count_by_status"], {"wanted": wanted})
        return _by_status(rows, wanted)

    def count_by_status_blocking(
        self, statuses: Iterable[Status], *, max_seconds: int
    ) -> dict[str, int]:
        """count_by_status in the calling thread (not the event loop's: the metrics
        scrape's), the query stopped by ClickHouse after `max_seconds`."""
        wanted = [s.value for s in statuses]
        rows = self.ch.query_rows_blocking(
            QUERIES["count_by_status"], {"wanted": wanted}, max_seconds=max_seconds
        )
        return _by_status(rows, wanted)

    # --- cleanup -------------------------------------------------------------------------

    async def count_changed_before(
        self, statuses: Iterable[Status], cutoff_us: int
    ) -> dict[str, int]:
        """How many schedules in each of `statuses` last changed before `cutoff_us`
        (statuses with none are left out)."""
        rows = await self.ch.query_rows(
            QUERIES["count_changed_before"],
            {"statuses": list(statuses), "cutoff": cutoff_us},
        )
        return {str(st): int(n) for st, n in rows.rows}

    async def tombstone_changed_before(
        self, status: str, cutoff_us: int, limit: int, version: int
    ) -> None:
        """Delete up to `limit` schedules in `status` last changed before `cutoff_us`:
        tombstones written by ClickHouse itself (no data through Python)."""
        await self.ch.command(
            QUERIES["tombstone_changed_before"],
            {"version": version, "status": status, "cutoff": cutoff_us, "limit": limit},
        )

    async def drop_empty_months(self, cutoff_us: int) -> list[str]:
        """Drop the monthly partitions that end before the cutoff and hold no visible
        schedule; returns them."""
        cutoff = datetime.fromtimestamp(cutoff_us / 1_000_000, UTC)
        before = cutoff.year * 100 + cutoff.month  # months before the cutoff's month
        parts = await self.ch.query_rows(QUERIES["months_before"], {"before": before})
        dropped = []
        for (partition,) in parts.rows:
            month = int(partition)
            left = await self.ch.query_rows(QUERIES["count_in_month"], {"month": month})
            if left.rows[0][0] == 0:
                await self.ch.command(QUERIES["drop_month"], {"month": month})
                dropped.append(str(partition))
        return dropped

    # --- analytics -----------------------------------------------------------------------

    async def summary(self, hours: int, top: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The figures of the last `hours` hours of execution results (one row, with
        `since`), and the `top` entity types and actions failing most."""
        params = {"hours": hours, "top": top}
        rows = await self.ch.query(QUERIES["summary"], params)
        failures = await self.ch.query(QUERIES["failing_most"], params)
        return rows[0], failures

    async def attempts(self, schedule_id: str, since_us: int, limit: int) -> list[dict[str, Any]]:
        """One schedule's execution results since `since_us` (Unix µs), oldest first."""
        params = {"schedule_id": schedule_id, "since": since_us, "limit": limit}
        return await self.ch.query(QUERIES["attempts_of"], params)

    async def per_minute(self, minutes: int) -> list[dict[str, Any]]:
        """Fired, failed and skipped per minute of the last `minutes` minutes (`minute`:
        naive UTC); minutes without outcomes are absent."""
        return await self.ch.query(QUERIES["per_minute"], {"minutes": minutes})

    async def performance(
        self,
        start: datetime,
        end: datetime,
        *,
        entity_type: str | None,
        action: str | None,
        topic: str | None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Figures per hour starting in [start, end) (naive UTC), and for all of them,
        merged from the hourly aggregates; None filters nothing."""
        params = {
            "start": start,
            "end": end,
            "entity_type": entity_type,
            "action": action,
            "topic": topic,
        }
        hourly = await self.ch.query(QUERIES["performance_hourly"], params)
        totals = await self.ch.query(QUERIES["performance_totals"], params)
        return hourly, totals[0]

    # --- recurring schedules' mirror -------------------------------------------------------

    async def mirror_recurring(
        self, recurring_id: str, definition: str | None, version: int, updated_us: int
    ) -> None:
        """Record a recurring schedule's definition (JSON), or its deletion (None)."""
        updated = datetime.fromtimestamp(updated_us / 1_000_000, UTC)
        row = [recurring_id, definition or "", version, 1 if definition is None else 0, updated]
        await self.ch.insert(RECURRING_TABLE, [row], RECURRING_COLUMNS)

    async def recurring_definitions(self) -> list[tuple[str, str]]:
        """(recurring_id, definition JSON) of every mirrored, not deleted definition."""
        rows = await self.ch.query_rows(QUERIES["recurring_definitions"], {})
        return [(str(rid), str(d)) for rid, d in rows.rows]


def _by_status(rows: Rows, wanted: list[str]) -> dict[str, int]:
    found = {str(st): int(n) for st, n in rows.rows}
    return {s: found.get(s, 0) for s in wanted}
