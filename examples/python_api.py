"""The Python API from a service's own process, next to a running `make dev`.

    make dev                                     # one terminal; it writes .dev/env
    set -a; . .dev/env; set +a                   # another: REDIS_URL, CLICKHOUSE_URL, ...
    .venv/bin/python examples/python_api.py

Schedules, cancels, reads the stats, pauses and resumes, schedules a hundred events in
one call; then schedules one event due in
a second, which `dev`'s executor fires, and one three days out, which waits in
ClickHouse (through `dev`'s CLICKHOUSE_URL), and reads both back; then creates a
recurring schedule, previews it and deletes it. This process runs no
role: `dev` does. Exit code 0 once the near event was published (status `executed`).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from scheduler.service import SchedulerService
from scheduler.settings import load_settings

FINISHED = ("executed", "skipped", "error", "cancelled")


async def main() -> int:
    service = SchedulerService(load_settings())
    await service.start()  # or start(roles=["executor", "consumer"])

    schedule_id = await service.schedule_event(
        topic="user.notifications",
        entity_type="user",
        action="send_reminder",
        body='{"user_id": 123, "message": "Don\'t forget!"}',
        scheduled_at=datetime.now(UTC) + timedelta(minutes=30),
        correlation_id="reminder-123",
        headers={"priority": "high"},
        priority=1,
    )
    result = await service.cancel_event(schedule_id)  # CancelResult: truthy if cancelled
    print("cancelled", schedule_id, result.value)  # "pending", "in_flight" or "unknown"
    stats = await service.get_stats()  # {"pending": .., "redis_pending": .., "paused": .., ...}
    print("stats", stats["redis_pending"], "in Redis,", stats["pending"], "in ClickHouse")
    await service.pause("priority", priority_below=0, reason="high load")  # or "all", "topic"
    await service.resume("priority")  # "all" ends every pause

    # Many at once: one result per item, in order; a bad item is named, the rest stored.
    event = {"topic": "user.notifications", "delay_seconds": 60}
    items = [{**event, "body": {"user_id": n}} for n in range(100)]
    items.append({**event, "body": "x", "delay_seconds": -1})
    results = await service.schedule_events(items)  # any iterable, a generator too
    print("bulk", results.accepted, "accepted,", results.rejected, "rejected")  # 100, 1
    bad = results[-1]  # ItemResult: index, ok, schedule_id, tier, added, error, field
    print("refused", bad.index, bad.field, bad.error)  # 100 delay_seconds delay_seconds: ...

    soon = await service.schedule_event(
        topic="user.notifications", body={"user_id": 123}, delay_seconds=1
    )
    later = await service.schedule_event(
        topic="user.notifications",
        body={"user_id": 123},
        scheduled_at=datetime.now(UTC) + timedelta(days=3),
    )
    status = await service.get_status(later)  # None when unknown
    print("scheduled", later, status.status if status else None, status.tier if status else None)
    status = await service.get_status(soon)
    for _ in range(150):  # `dev`'s executor fires it in about a second
        if status is not None and status.status in FINISHED:
            break
        await asyncio.sleep(0.2)
        status = await service.get_status(soon)
    print("fired", soon, status.status if status else None)
    await service.cancel_event(later)

    # A recurring schedule: weekdays at 09:00 in Berlin; each occurrence is an event.
    definition, created = await service.create_recurring(
        {
            "recurring_id": "daily-report",
            "cron": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "event": {"topic": "reports.daily", "body": {"report": "daily"}},
        }
    )
    print("recurring", definition.recurring_id, definition.version, created)  # new: True
    for occurrence in await service.preview_recurring("daily-report", count=3):
        print("next", occurrence.schedule_id)  # daily-report@<generation>@<unix seconds>
    await service.delete_recurring("daily-report")  # cancels its pending occurrences
    await service.stop()
    return 0 if status is not None and status.status == "executed" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
