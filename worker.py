"""Temporal worker: `python worker.py` (the installed command: `hybrid-scheduler worker`).

Connects to Redis, ClickHouse and TEMPORAL_ADDRESS, registers the workflows in
`workflows/` and the activities in `activities/` on SCHEDULES_TEMPORAL_TASK_QUEUE
("schedules"), ensures the Temporal Schedules (workflows/schedules.py), serves its
Prometheus metrics on SCHEDULES_METRICS_PORT (/metrics), and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from cli.logs import setup_logging_from
from scheduler.errors import ConfigError
from scheduler.metrics_endpoint import serve_metrics
from scheduler.runtime import Runtime
from scheduler.settings import load_settings
from workflows.worker import start_worker

log = logging.getLogger("hybrid_scheduler")


async def main() -> None:
    settings = load_settings()
    setup_logging_from(settings)
    if not settings.cold_tier_enabled:
        raise ConfigError("the worker needs the cold tier (SCHEDULES_COLD_TIER_ENABLED)")
    interrupted = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, interrupted.set)
    # This process's metrics (the activities' job metrics, the queue gauges), listening
    # before anything connects.
    endpoint = serve_metrics(settings)
    if endpoint is not None:
        log.info("Prometheus metrics on %s", endpoint.url)
    runtime = Runtime(settings)  # the Redis and ClickHouse clients, no role
    try:
        await runtime.start()
        try:
            ops = runtime.require_cold_ops()
            async with await start_worker(settings, ops, recurring=runtime.recurring):
                await interrupted.wait()
        finally:
            await runtime.stop()
    finally:
        if endpoint is not None:
            endpoint.close()


if __name__ == "__main__":
    asyncio.run(main())
