"""The cold tier's reads and writes: every query the product runs on `event_schedules`.

Writes are batched inserts of full-row versions (scheduler.cold.records), never ALTER
UPDATE. Reads go through the `event_schedules` view (FINAL), so each schedule is seen
once, in its current version; the ones that can be bounded by the sorting key
(scheduled_at, schedule_id) are, so they read a window of the table, not all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from scheduler.cold.clickhouse import ClickHouse
from scheduler.cold.records import (
    BYTES,
    COLUMNS,
    LOG_TABLE,
    RESULTS_TABLE,
    SELECT,
    Schedule,
    Status,
)

RESULT_COLUMNS = (
    "execution_id", "schedule_id", "correlation_id", "topic", "entity_type", "action",
    "scheduled_at", "executed_at", "delay_seconds", "status", "error_message", "retry_count",
    "processing_time_ms", "node_id",
)  # fmt: skip
_KEY_AFTER = (
    "(scheduled_at > fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')"
    " OR (scheduled_at = fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')"
    " AND schedule_id > {after_id:String}))"
)
START = (-(2**62), "")  # a key before every real one
# A new version of every current row matched by {where}, made by ClickHouse itself (no
# data through Python: ~5x faster than sending the rows back for a sync batch).
_RESTAMP = """
INSERT INTO event_schedules_log
    (schedule_id, topic, entity_type, action, body, correlation_id, headers, scheduled_at,
     max_delay_seconds, priority, status, tier, attempts, error, processing_started_at,
     created_at, updated_at, version)
SELECT schedule_id, topic, entity_type, action, body, correlation_id, headers, scheduled_at,
    max_delay_seconds, priority, {{status:String}}, {{tier:String}}, attempts, NULL,
    {started}, created_at, now64(6), {{version:UInt64}}
FROM event_schedules
WHERE {where}
    AND scheduled_at BETWEEN fromUnixTimestamp64Micro({{lo:Int64}}, 'UTC')
        AND fromUnixTimestamp64Micro({{hi:Int64}}, 'UTC')
    AND (scheduled_at, schedule_id)
        >= (fromUnixTimestamp64Micro({{lo:Int64}}, 'UTC'), {{lo_id:String}})
    AND (scheduled_at, schedule_id)
        <= (fromUnixTimestamp64Micro({{hi:Int64}}, 'UTC'), {{hi_id:String}})
"""
_STARTED = "fromUnixTimestamp64Micro({started:Int64}, 'UTC')"
_CLAIM = _RESTAMP.format(started=_STARTED, where="status = 'pending'")
_TRANSFER = _RESTAMP.format(
    started="processing_started_at",
    where=f"status = 'processing' AND processing_started_at = {_STARTED}",
)


class ColdStore:
    """Schedules in ClickHouse. Every method is one or two bounded statements."""

    def __init__(self, ch: ClickHouse) -> None:
        self.ch = ch

    # --- writes --------------------------------------------------------------------------

    async def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert schedule versions (records.COLUMNS order) as one batch."""
        await self.ch.insert(LOG_TABLE, rows, COLUMNS)

    async def claim_range(
        self, first: tuple[int, str], last: tuple[int, str], started_us: int, version: int
    ) -> None:
        """Mark every pending schedule with a key in [first, last] 'processing', started
        at `started_us` (which then names this claim)."""
        await self.ch.command(_CLAIM, self._range(first, last, started_us, version, "cold"))

    async def transfer_claimed(
        self, first: tuple[int, str], last: tuple[int, str], started_us: int, version: int
    ) -> None:
        """Mark 'transferred' the schedules the claim `started_us` took in [first, last]
        (and that are still 'processing': a cancel or a skip since wins anyway)."""
        params = self._range(first, last, started_us, version, "hot")
        await self.ch.command(_TRANSFER, {**params, "status": "transferred"})

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

    async def _schedules(self, where: str, params: dict[str, Any], limit: int) -> list[Schedule]:
        rows = await self.ch.query_rows(
            f"SELECT {SELECT} FROM event_schedules WHERE {where}"
            " ORDER BY scheduled_at, schedule_id LIMIT {limit:UInt64}",
            {**params, "limit": limit},
            column_formats=BYTES,
        )
        return [Schedule.from_row(r) for r in rows.rows]

    async def due(
        self, until_us: int, limit: int, *, after: tuple[int, str] = START
    ) -> list[Schedule]:
        """Pending schedules due by `until_us` after the key `after`, earliest first: the
        sync's window query."""
        return await self._schedules(
            "status = 'pending'"
            " AND scheduled_at <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')"
            f" AND {_KEY_AFTER}",
            {"until": until_us, "after_us": after[0], "after_id": after[1]},
            limit,
        )

    async def in_status(
        self,
        status: Status,
        limit: int,
        *,
        after: tuple[int, str] = START,
        until_us: int | None = None,
        started_before_us: int | None = None,
    ) -> list[Schedule]:
        """Schedules in `status` after the key `after` (for paging), earliest first."""
        where = ["status = {status:String}", _KEY_AFTER]
        params: dict[str, Any] = {
            "status": status.value,
            "after_us": after[0],
            "after_id": after[1],
        }
        if until_us is not None:
            where.append("scheduled_at <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')")
            params["until"] = until_us
        if started_before_us is not None:
            where.append("processing_started_at < fromUnixTimestamp64Micro({started:Int64}, 'UTC')")
            params["started"] = started_before_us
        return await self._schedules(" AND ".join(where), params, limit)

    async def find(self, schedule_ids: Iterable[str]) -> list[Schedule]:
        """Every current schedule with one of these ids (the bloom filter index finds
        them; the same id can exist at several scheduled times)."""
        ids = list(dict.fromkeys(schedule_ids))
        if not ids:
            return []
        return await self._schedules(
            "schedule_id IN {ids:Array(String)}", {"ids": ids}, limit=len(ids) * 16
        )

    async def cancelled(self, schedules: Sequence[Schedule]) -> set[tuple[int, str]]:
        """The keys of these schedules that are cancelled now. The sync and the rebuild
        call this on batches that are contiguous in scheduled_at: one key range is read,
        and only cancelled rows come back."""
        if not schedules:
            return set()
        keys = {s.key for s in schedules}
        rows = await self.ch.query_rows(
            "SELECT toUnixTimestamp64Micro(scheduled_at), schedule_id FROM event_schedules"
            " WHERE scheduled_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, 'UTC')"
            " AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC') AND status = 'cancelled'",
            {"lo": min(k[0] for k in keys), "hi": max(k[0] for k in keys)},
        )
        return {(at, sid) for at, sid in rows.rows if (at, sid) in keys}

    async def latest_results(
        self, schedules: Sequence[Schedule], since_us: int
    ) -> dict[tuple[int, str], str]:
        """The last execution result status ('success', 'error', ...) recorded since
        `since_us` for each schedule that has one."""
        if not schedules:
            return {}
        keys = {s.key for s in schedules}
        rows = await self.ch.query_rows(
            "SELECT toUnixTimestamp64Micro(scheduled_at) AS at, schedule_id,"
            " argMax(status, executed_at) FROM schedule_execution_results"
            " WHERE executed_at >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')"
            " AND schedule_id IN {ids:Array(String)} GROUP BY at, schedule_id",
            {"since": since_us, "ids": sorted({k[1] for k in keys})},
        )
        return {(at, sid): str(st) for at, sid, st in rows.rows if (at, sid) in keys}

    async def count_by_status(self, statuses: Iterable[Status]) -> dict[str, int]:
        """How many schedules are in each of `statuses` now (0 for none)."""
        wanted = [s.value for s in statuses]
        rows = await self.ch.query_rows(
            "SELECT status, count() FROM event_schedules"
            " WHERE status IN {wanted:Array(String)} GROUP BY status",
            {"wanted": wanted},
        )
        found = {str(st): int(n) for st, n in rows.rows}
        return {s: found.get(s, 0) for s in wanted}
