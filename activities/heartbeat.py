"""Heartbeats while an activity's I/O runs, so a lost worker is noticed in seconds.

The operations in scheduler/cold/ work in bounded batches of their own; between the
rounds an activity runs, it heartbeats its progress explicitly (`beat(details)`), and
this keeps beating the latest details meanwhile, for a round that takes a while.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio import activity

DEFAULT_EVERY = 2.0  # seconds; well inside any heartbeat timeout the workflows set


class Heartbeat:
    def __init__(self) -> None:
        self.details: tuple[Any, ...] = ()

    def beat(self, *details: Any) -> None:
        self.details = details
        activity.heartbeat(*details)


@contextlib.asynccontextmanager
async def heartbeating(every: float | None = None) -> AsyncIterator[Heartbeat]:
    info = activity.info()
    if every is None:
        timeout = info.heartbeat_timeout
        every = (
            DEFAULT_EVERY if timeout is None else min(DEFAULT_EVERY, timeout.total_seconds() / 3)
        )
    hb = Heartbeat()

    async def tick() -> None:
        while True:
            activity.heartbeat(*hb.details)
            await asyncio.sleep(every)

    task = asyncio.create_task(tick())
    try:
        yield hb
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
