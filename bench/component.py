"""In-process (component) benchmarks: kept only where they explain a deployed number.

inprocess_component_lateness_5000
    lateness_5000 exactly (same events, same outside measurement: record timestamps
    read after the firing), except that the `Executor` runs as a task in the bench
    process instead of `hybrid-scheduler serve --role executor`. The difference between
    the two is what the deployed process adds (its imports, its heap, and so its
    collector's pauses); the bench process's collections are recorded the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import Scenario
from bench.deployed import lateness_scenario
from bench.gc_hook.sitecustomize import Recorder
from scheduler.hot.executor import Executor, ExecutorConfig
from scheduler.hot.keys import Keys
from scheduler.hot.store import HotStore
from scheduler.kafka import make_producer
from scheduler.settings import Settings


class InProcessExecutor:
    command = "scheduler.hot.executor.Executor(...).run() as a task in the bench process"

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.exit_code: int | None = None
        self.recorder = Recorder()

    def cpu_seconds(self) -> float:
        return time.process_time()  # the bench process: it only waits during the firing

    def gc_pauses(self) -> dict[str, Any]:
        return self.recorder.data()


@contextlib.asynccontextmanager
async def in_process_executor(settings: Settings, tmp: Path) -> AsyncIterator[InProcessExecutor]:
    """The executor the role would run (same settings, store and producer), as a task here."""
    redis = Redis.from_url(settings.redis_url)
    producer = make_producer(settings)
    await producer.start()
    executor = Executor(
        HotStore(redis, Keys(settings.redis_key_prefix)),
        producer,
        ExecutorConfig.from_settings(settings),
    )
    handle = InProcessExecutor()
    handle.recorder.start()
    task = asyncio.create_task(executor.run())
    try:
        yield handle
    finally:
        executor.stop()
        await task
        handle.recorder.stop()
        await producer.stop()
        await redis.aclose()
        handle.exit_code = 0


COMPONENT_SCENARIOS: dict[str, Scenario] = {
    "inprocess_component_lateness_5000": lateness_scenario(
        5000,
        {"p50": 5, "p99": 20, "p99.9": 40},
        name="inprocess_component_lateness_5000",
        executor_in=in_process_executor,
        about={
            "kind": "in-process (component)",
            "fired_by": "an Executor task in the bench process (not the deployed role)",
            "processes": [],
        },
    ),
}
