"""Dead letters made the way production makes them, for the tests of listing and replay."""

from __future__ import annotations

import time

from scheduler.hot.store import HotStore
from scheduler.models import Event

MAX_ATTEMPTS = 3


async def exhaust(hot: HotStore, *events: Event) -> None:
    """Store the events due now and spend their attempts: each is claimed by an executor
    that dies (its lease expires) MAX_ATTEMPTS times, so the next executor dead-letters it."""
    await hot.schedule(list(events))
    for _ in range(MAX_ATTEMPTS):
        batch = await hot.claim(len(events), -0.01)
        assert len(batch.items) == len(events)
        assert await hot.reap() == len(events)


def doomed(sid: str, topic: str, **kw: object) -> Event:
    return Event(
        schedule_id=sid,
        topic=topic,
        body=f"body-{sid}".encode(),
        scheduled_at=time.time() - 1,
        headers={"tenant": "acme"},
        **kw,  # type: ignore[arg-type]
    )
