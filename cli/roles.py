"""`hybrid-scheduler serve --role ...` and `hybrid-scheduler worker`: the product's roles
in this process until SIGINT/SIGTERM.

The in-process roles are the SchedulerService's (scheduler.roles.ROLES); the command
line adds the Temporal worker (`worker`) and the HTTP API (`api`). What a role needs is
imported when it runs, so a process loads only the roles it was asked for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from scheduler.errors import ConfigError
from scheduler.gcpause import settle
from scheduler.metrics_endpoint import metrics_url, serve_metrics
from scheduler.roles import ROLES

if TYPE_CHECKING:
    from scheduler.settings import Settings

log = logging.getLogger("hybrid_scheduler")

WORKER = "worker"  # the Temporal worker: runs sync, cleanup, recovery, recurring as Schedules
API = "api"  # the HTTP API (uvicorn in this process, on this process's SchedulerService)
_COLD = "SCHEDULES_COLD_TIER_ENABLED=false"


def expand_roles(requested: Sequence[str], settings: Settings) -> tuple[str, ...]:
    """The roles `serve --role ...` runs, in order, each once.

    `all` is every in-process role that applies here: the executor, the consumer, the
    sync and the recurring schedules' materialisation, except that the sync is left out
    when the cold tier is disabled (there is nothing to sync), and both when the `worker`
    role is asked for too (it runs them). Roles named explicitly are kept as given:
    `--role sync` without the cold tier stays a configuration error.
    """
    roles: list[str] = []
    for role in requested:
        if role != "all":
            roles.append(role)
            continue
        for implied in ROLES:
            if implied == "sync" and not settings.cold_tier_enabled:
                log.info("not running the sync role: the cold tier is disabled (%s)", _COLD)
            elif implied in ("sync", "recurring") and WORKER in requested:
                log.info("not running the in-process %s role: the worker role runs it", implied)
            else:
                roles.append(implied)
    return tuple(dict.fromkeys(roles))


async def run_roles(
    settings: Settings, roles: Sequence[str], on_started: Callable[[], None] | None = None
) -> None:
    """Run the given roles until SIGINT/SIGTERM, then stop them cleanly. `on_started` is
    called once everything runs (migrations applied, the API listening)."""
    from scheduler.service import SchedulerService

    with_worker = WORKER in roles
    with_api = API in roles
    roles = [r for r in roles if r not in (WORKER, API)]
    for own in ("sync", "recurring"):
        if with_worker and own in roles:
            raise ConfigError(
                f"run either the `worker` role or the in-process `{own}` role, not both"
            )
    if with_worker and not settings.cold_tier_enabled:
        raise ConfigError("the worker role needs the cold tier (SCHEDULES_COLD_TIER_ENABLED)")
    service = SchedulerService(settings)
    stop = asyncio.Event()
    received: list[str] = []
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            received.append(sig.name)
            log.info("%s received: stopping", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    what = describe(settings, roles, with_worker=with_worker, with_api=with_api)
    # One metrics endpoint for everything this process runs, listening before anything
    # connects (a port in use fails at once).
    endpoint = serve_metrics(settings)
    try:
        await service.start(roles)
    except BaseException:
        if endpoint is not None:
            endpoint.close()
        raise
    shim = None
    if settings.cold_tier_enabled and not settings.clickhouse_url:
        # On the embedded engine (chdb) only: operators' read-only SQL reaches it here.
        from devstack.sql_endpoint import start_product_shim

        shim = start_product_shim(settings)
    worker = worker_done = server = serving = None
    try:
        running: set[asyncio.Task[None]] = set()
        if roles:
            running.add(asyncio.create_task(service.wait()))
        if with_worker:
            from workflows.worker import start_worker

            worker = await start_worker(
                settings,
                service.runtime.require_cold_ops(),
                recurring=service.runtime.recurring,
            )
            worker_done = asyncio.create_task(worker.run())
            running.add(worker_done)
        if with_api:
            from api.server import build_server

            server = build_server(settings, service, worker.client if worker else None)
            serving = asyncio.create_task(server.serve())
            running.add(serving)
            # The start-up line below says "listening": wait for it (or for a failure).
            listening = asyncio.create_task(server.listening.wait())
            await asyncio.wait({listening, serving}, return_when=asyncio.FIRST_COMPLETED)
            listening.cancel()
        if not any(task.done() for task in running):
            # Start-up's long-lived objects out of the collector's way (scheduler.gcpause).
            settle(settings.gc_young_threshold)
            log.info("hybrid-scheduler started (pid %d): %s", os.getpid(), "; ".join(what))
            if on_started is not None:
                on_started()
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({*running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in running:
            if task.done():
                task.result()  # a role died: surface its error
        stopped.cancel()
        if server is not None and serving is not None:
            server.should_exit = True  # finishes open requests, then serve() returns
            await serving
        for task in running - {worker_done, serving}:
            task.cancel()
    finally:
        if server is not None:
            server.should_exit = True
        if worker is not None and worker_done is not None and not worker_done.done():
            await worker.shutdown()  # lets running activities finish (5 s), then ends run()
        if shim is not None:
            shim.close()
        await service.stop()
        if endpoint is not None:
            endpoint.close()
        log.info(
            "hybrid-scheduler stopped (pid %d%s): %s",
            os.getpid(),
            f", {received[0]}" if received else "",
            "; ".join(what),
        )


def describe(
    settings: Settings, roles: Sequence[str], *, with_worker: bool, with_api: bool
) -> list[str]:
    """What a process runs, for its start-up and shutdown lines: the roles, where the
    API listens and the worker polls, and where Prometheus scrapes the process."""
    parts = [f"roles {', '.join(roles)}"] if roles else []
    if with_worker:
        parts.append(
            f"Temporal worker on task queue {settings.temporal_task_queue!r} "
            f"at {settings.temporal_address}"
        )
        if settings.temporal_metrics_port:
            parts.append(f"Temporal SDK metrics on port {settings.temporal_metrics_port}")
    if with_api:
        api = f"http://{settings.api_host}:{settings.api_port}"
        parts.append(f"HTTP API on {api} (operator console: {api}/ui)")
    if settings.metrics_port:
        parts.append(
            f"Prometheus metrics on {metrics_url(settings.metrics_host, settings.metrics_port)}"
        )
    return parts or ["nothing"]
