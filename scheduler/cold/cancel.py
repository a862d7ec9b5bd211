"""Cancel a schedule by id, wherever it is.

Order matters (see transfer.py): cold-side rows ('pending', 'processing') get their
sticky 'cancelled' version first, then Redis is cancelled. A sync moving the same
schedule either sees the cancelled version when it reads its batch back, or put the
event into Redis before that read, and so before our Redis cancel, which removes it.

A 'transferred' row is only marked cancelled once Redis confirms the cancel: if Redis no
longer has it, it fired (or is firing) and its outcome, not a cancel, is the truth.
"""

from __future__ import annotations

import logging

from scheduler.cold.journal import JournalWriter
from scheduler.cold.records import LIVE, Status, Tier, cancel_version, micros, row
from scheduler.cold.store import ColdStore
from scheduler.errors import ServiceUnavailable
from scheduler.hot.store import CancelResult, HotStore

log = logging.getLogger(__name__)


async def cancel_schedule(
    cold: ColdStore, hot: HotStore, schedule_id: str, journal: JournalWriter | None = None
) -> CancelResult:
    """PENDING if it was cancelled before it fired (in either tier), IN_FLIGHT if an
    executor held it (it may have been published), UNKNOWN if there was nothing to cancel.

    While ClickHouse is unreachable, a hot event is still cancelled (its journal version
    is queued in `journal`); only "is there a cold one?" cannot be answered: then this
    raises ServiceUnavailable.
    """
    try:
        live = [s for s in await cold.find([schedule_id]) if s.status in LIVE]
    except ServiceUnavailable as exc:
        cold_error: ServiceUnavailable | None = exc
        live = []
    else:
        cold_error = None
    cold_side = [s for s in live if s.status is not Status.TRANSFERRED]
    if cold_side:
        version = cancel_version()
        await cold.write([s.version_row(Status.CANCELLED, s.tier, version) for s in cold_side])
    copy = (await hot.events([schedule_id])).get(schedule_id)
    result = await hot.cancel(schedule_id)
    if result and copy is not None:
        hot_row = row(copy, Status.CANCELLED, Tier.HOT, cancel_version())
        cold_keys = {s.key for s in cold_side}
        if (micros(copy.scheduled_at), schedule_id) not in cold_keys:
            try:
                if cold_error is not None:
                    raise cold_error
                await cold.write([hot_row])
            except ServiceUnavailable:
                if journal is None:
                    raise
                journal.add_versions([hot_row])
    if result:
        return result
    if cold_side:
        return CancelResult.PENDING
    if cold_error is not None:
        raise ServiceUnavailable(
            f"{schedule_id} is not in Redis and ClickHouse is unreachable, so whether a cold "
            f"schedule exists is unknown: {cold_error}"
        )
    return CancelResult.UNKNOWN
