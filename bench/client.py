"""The bench as a client of the Python API: a `SchedulerService` with no roles (what an
application embeds to schedule), against the bench's Redis, cold tier off.

Two ways in, both public:
  schedule_event      one awaited call per event
  the batch path      `prepare(parse_request(...))` per item, then one `store_events`
                      for many: what POST /api/v1/schedules/batch does per request
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from bench.common import BODY
from bench.topic import DUE_HEADER
from scheduler.models import parse_request
from scheduler.service import SchedulerService
from scheduler.settings import Settings

BODY_TEXT = BODY.decode()  # stored as these 400 bytes
BATCH = 1000  # items per store_events call: SCHEDULES_API_MAX_BATCH's default


@contextlib.asynccontextmanager
async def python_api(settings: Settings) -> AsyncIterator[SchedulerService]:
    service = SchedulerService(settings.model_copy(update={"cold_tier_enabled": False}))
    await service.start(roles=[])
    try:
        yield service
    finally:
        await service.stop()


def due_request(topic: str, due_ms: int, i: int) -> dict[str, Any]:
    """An event due at `due_ms` (whole ms) that says so in its `bench-due-ms` header."""
    return {
        "topic": topic,
        "body": BODY_TEXT,
        "entity_type": "user",
        "action": "send_reminder",
        "scheduled_at": datetime.fromtimestamp(due_ms / 1000, UTC),
        "correlation_id": f"reminder-{i}",
        "headers": {DUE_HEADER: str(due_ms)},
    }


def later_request(topic: str, i: int, delay_seconds: float = 3600) -> dict[str, Any]:
    """A typical event due in an hour (nothing fires during an enqueue benchmark)."""
    return {
        "topic": topic,
        "body": BODY_TEXT,
        "entity_type": "user",
        "action": "send_reminder",
        "delay_seconds": delay_seconds,
        "correlation_id": f"reminder-{i}",
        "headers": {"source": "bench"},
    }


async def store_batch(service: SchedulerService, items: Iterable[dict[str, Any]]) -> int:
    """The batch path for `items`; how many were newly stored."""
    now = time.time()
    events = [service.prepare(parse_request(item), now) for item in items]
    stored = await service.store_events(events, now, source="python")
    return sum(1 for s in stored if s.added)


async def load_due(
    service: SchedulerService, topic: str, due_ms: list[int], *, first_id: int = 0
) -> int:
    """Store one event per due time through the batch path, BATCH at a time."""
    added = 0
    for at in range(0, len(due_ms), BATCH):
        chunk = due_ms[at : at + BATCH]
        added += await store_batch(
            service, (due_request(topic, d, first_id + at + j) for j, d in enumerate(chunk))
        )
    return added


async def batch_rate(service: SchedulerService, topic: str, n: int = 2 * BATCH) -> float:
    """Events/s of the batch path right now, storing n events due in an hour (a calibration;
    they never fire during a run)."""
    t = time.perf_counter()
    due = int((time.time() + 3600) * 1000)
    await load_due(service, topic, [due] * n, first_id=10**9)
    return n / (time.perf_counter() - t)
