"""The materialisation of recurring schedules on Temporal: RecurringWorkflow (started as
its Temporal Schedule starts it, by name) runs the activity on a real worker, which stores
the occurrences of a definition nothing has materialised yet; a second run adds none."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from scheduler.recurring.jobs import MaterializeInput, MaterializeResult
from scheduler.recurring.model import RecurringDefinition, parse_recurring
from scheduler.recurring.store import Mark, RecurringStore
from scheduler.service import SchedulerService
from scheduler.settings import Settings
from workflows.models import RECURRING_WORKFLOW
from workflows.worker import build_worker


async def test_the_workflow_materialises_what_nothing_else_did(
    client: Client, orch_settings: Settings
) -> None:
    service = SchedulerService(orch_settings)
    await service.start()
    runtime = service.runtime
    assert runtime.hot is not None
    try:
        # A definition stored without materialising (as after Redis was restored from
        # the ClickHouse mirror): only the periodic job would schedule its occurrences.
        now = time.time()
        at = datetime.fromtimestamp(now, UTC)
        req = parse_recurring(
            {"recurring_id": "wf", "interval_seconds": 600, "event": {"topic": "t", "body": "x"}}
        )
        d = RecurringDefinition(
            **req.model_dump(), version=1, generation=1, created_at=at, updated_at=at
        )
        store = RecurringStore(runtime.hot)
        assert await store.put(d, 0, Mark.starting(1, math.floor(now))) is None

        async def run() -> MaterializeResult:
            return await client.execute_workflow(
                RECURRING_WORKFLOW,
                MaterializeInput(),
                id=f"recurring-{uuid.uuid4().hex}",
                task_queue=orch_settings.temporal_task_queue,
                execution_timeout=timedelta(seconds=120),  # a dead worker fails, not hangs
                result_type=MaterializeResult,
            )

        ops = runtime.require_cold_ops()
        async with build_worker(client, orch_settings, ops, runtime.recurring):
            first = await run()
            assert (first.definitions, first.materialized, first.failed) == (1, 6, 0)
            raw = await runtime.hot.redis.zrange(runtime.hot.keys.scheduled, 0, -1)
            ids = sorted(m.decode() for m in raw)
            assert len(ids) == 6 and all(sid.startswith("wf@1@") for sid in ids)
            second = await run()
            assert (second.definitions, second.materialized) == (1, 0)
        status = await service.get_status(ids[0])
        assert status is not None and status.status == "scheduled"
    finally:
        await service.stop()
