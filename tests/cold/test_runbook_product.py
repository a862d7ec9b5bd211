"""The runbook's SQL, verbatim, over state the product itself produced: scheduling in
both tiers, a cancel, a sync, an interrupted sync, executions and failures."""

from __future__ import annotations

import time

from conftest import eventually

from cold.runbook import (
    COUNT_PENDING,
    ERROR_DISTRIBUTION,
    ERROR_PATTERNS,
    PENDING_BY_STATUS,
    PENDING_TRANSFER,
    RECENT_PERFORMANCE,
    STUCK,
)
from scheduler.cold.records import Status
from scheduler.cold.store import ColdStore
from scheduler.cold.transfer import claim
from scheduler.hot.outcome import Outcome, OutcomeStatus
from scheduler.kafka import ensure_topics
from scheduler.service import SchedulerService
from scheduler.settings import Settings

MIN = 60.0


async def test_runbook_counts_match_what_the_product_did(
    hybrid_settings: Settings, cold: ColdStore, uid: str
) -> None:
    topic = f"target-{uid}"
    s = hybrid_settings.model_copy(
        update={"immediate_horizon_seconds": 30 * MIN, "transfer_horizon_seconds": 10 * MIN}
    )
    await ensure_topics(s, [topic, s.delayed_topic, s.dead_letter_topic])
    service = SchedulerService(s)
    await service.start(roles=["executor"])
    try:
        far = [
            await service.schedule_event(topic=topic, body="f", delay_seconds=2 * 86400 + i)
            for i in range(5)
        ]
        soon = [
            await service.schedule_event(topic=topic, body="s", delay_seconds=45 * MIN + i)
            for i in range(2)
        ]
        hot = [
            await service.schedule_event(topic=topic, body="h", delay_seconds=10 * MIN)
            for i in range(3)
        ]
        now_ids = [
            await service.schedule_event(topic=topic, body="n", delay_seconds=0) for _ in range(2)
        ]
        await service.cancel_event(far[0])
        assert (await service.sync_clickhouse_to_redis()).moved == 0  # nothing due in 10 min
        # A sync that claimed one schedule two hours ago and died.
        (stuck,) = [r for r in await cold.find([soon[0]])]
        await claim(cold, [stuck], int((time.time() - 7200) * 1e6))
        # Two hot schedules failed for good (as the executor reports dead letters).
        assert service.runtime.journal is not None and service.runtime.hot is not None
        failed = [found[1] for sid in hot[:2] if (found := await service.runtime.hot.get(sid))]
        await service.runtime.journal.record(
            [
                Outcome(ev, OutcomeStatus.DEAD_LETTER, time.time(), 1, "permanent_error: boom")
                for ev in failed
            ]
        )

        async def fired() -> bool:
            rows = await cold.find(now_ids)
            return {r.status for r in rows} == {Status.EXECUTED}

        await service.runtime.journal.flush()
        assert await eventually(fired, timeout=30)
        await service.runtime.journal.flush()

        rows = await cold.ch.query(PENDING_BY_STATUS)
        assert {r["status"]: r["count"] for r in rows} == {"pending": 5, "processing": 1}
        assert await cold.ch.query(COUNT_PENDING) == [{"count()": 5}]
        assert (await service.get_stats())["pending"] == 5
        (transfer,) = await cold.ch.query(PENDING_TRANSFER)
        assert transfer["pending_transfer"] == 1  # soon[1]; soon[0] is 'processing'
        assert [r["schedule_id"] for r in await cold.ch.query(STUCK)] == [soon[0]]
        assert await cold.ch.query(ERROR_DISTRIBUTION) == [
            {"error": "permanent_error: boom", "count": 2}
        ]
        (hour,) = await cold.ch.query(RECENT_PERFORMANCE)
        assert (hour["total_executions"], hour["successful"], hour["failed"]) == (4, 2, 2)
        (pattern,) = await cold.ch.query(ERROR_PATTERNS)
        assert (pattern["error_count"], pattern["errors"]) == (2, ["permanent_error: boom"] * 2)
    finally:
        await service.stop()
