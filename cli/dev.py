"""`hybrid-scheduler dev`: start on embedded services whatever the environment does not
name (devstack), then run every role in this process.

`dev` is the one owner of the embedded ClickHouse engine (chdb lets one process open its
data). Other local processes (a service developer's own SchedulerService, extra `serve`
roles, `migrate`, the operator commands) come in through ClickHouse's HTTP interface,
which `dev` serves over its engine on 127.0.0.1:SCHEDULES_DEV_CLICKHOUSE_PORT. Once
everything runs, `dev` logs the environment those processes need (CLICKHOUSE_URL,
REDIS_URL, ...) and writes it to `<SCHEDULES_DEV_DIR>/env` for
`set -a; . .dev/env; set +a`; the file goes when `dev` stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from cli.roles import API, WORKER, run_roles
from devstack.services import EmbeddedStack
from scheduler.roles import ROLES
from scheduler.settings import Settings, default, env_name

if TYPE_CHECKING:
    from devstack.http_shim import HttpShim

log = logging.getLogger("hybrid_scheduler")

# `dev` runs the worker, not the in-process `sync` role: never both (double the work).
DEV_ROLES = (*(r for r in ROLES if r not in ("sync", "recurring")), WORKER, API)
ENV_FILE = "env"  # in SCHEDULES_DEV_DIR
# Settings other processes must share with `dev` to see the same data, written to the
# env file when `dev` runs with a value other than the default.
SHARED = (
    "cold_tier_enabled",
    "redis_key_prefix",
    "delayed_topic",
    "dead_letter_topic",
    "temporal_namespace",
    "temporal_task_queue",
    "redis_sentinels",
    "redis_sentinel_master",
    "redis_sentinel_password",
    "redis_min_replicas_ack",
    "redis_replica_ack_timeout",
)


def cmd_dev(settings: Settings) -> None:
    """Start what is not configured in the environment, then run every role."""
    external = {
        # Sentinel mode: the Sentinels name the Redis; dev starts none.
        "redis": os.environ.get("REDIS_URL")
        or (settings.redis_url if settings.redis_sentinels else None),
        "kafka": os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        "temporal": os.environ.get("TEMPORAL_ADDRESS"),
    }
    # Bound before anything starts, so that a taken port fails at once.
    endpoint = _clickhouse_endpoint(settings)
    try:
        with EmbeddedStack(
            settings.dev_dir,
            redis=external["redis"] or settings.dev_redis_port,
            kafka=external["kafka"] or settings.dev_kafka_port,
            temporal=external["temporal"] or settings.dev_temporal_port,
            temporal_ui_port=settings.dev_temporal_ui_port,
        ) as stack:
            _run(settings, stack, endpoint)
    finally:
        if endpoint is not None:
            endpoint.close()


def _run(settings: Settings, stack: EmbeddedStack, endpoint: HttpShim | None) -> None:
    for name, proc in stack.processes.items():
        log.info("started embedded %s on port %d (log: %s)", name, proc.port, proc.log_path)
    update: dict[str, object] = {
        "redis_url": stack.redis_url,
        "kafka_bootstrap_servers": stack.kafka_bootstrap,
        "temporal_address": stack.temporal_address,
        "clickhouse_auto_migrate": True,
    }
    if not settings.clickhouse_url and settings.cold_tier_enabled:
        log.info("embedded ClickHouse (chdb) at %s", settings.clickhouse_path.resolve())
    if endpoint is not None and settings.clickhouse_shim_port == settings.dev_clickhouse_port:
        # One endpoint on that port: `hybrid-scheduler sql` and `maintenance` find dev's
        # (sql sends readonly=1 itself), so the product's read-only one is not started.
        update["clickhouse_shim_port"] = 0
    if "kafka" in stack.processes and settings.kafka_idempotent_producer is None:
        update["kafka_idempotent_producer"] = False  # Tansu rejects InitProducerId
    if "temporal" in stack.processes and settings.temporal_ui_url is None:
        update["temporal_ui_url"] = f"http://127.0.0.1:{settings.dev_temporal_ui_port}"
    dev_settings = settings.model_copy(update=update)
    if "temporal" in stack.processes:
        log.info("Temporal UI: http://127.0.0.1:%d", settings.dev_temporal_ui_port)
    embedded = ", ".join(f"{name} ({proc.port})" for name, proc in stack.processes.items())
    env = dev_environment(dev_settings, endpoint)
    env_file = settings.dev_dir / ENV_FILE

    def started() -> None:
        if endpoint is not None:
            endpoint.start()  # only now: the migrations are applied
        write_env_file(env_file, env)
        log.info(
            "for other local processes (your own SchedulerService, more `serve` roles, "
            "the operator commands), in %s too: set -a; . %s; set +a",
            env_file,
            env_file,
        )
        for name, value in env.items():
            log.info("  %s=%s", name, value)

    try:
        asyncio.run(run_roles(dev_settings, DEV_ROLES, on_started=started))
    finally:
        with contextlib.suppress(FileNotFoundError):
            env_file.unlink()
        log.info("stopping the embedded services: %s", embedded or "none")
    log.info("stopped the embedded services")


def _clickhouse_endpoint(settings: Settings) -> HttpShim | None:
    """Dev's ClickHouse HTTP endpoint over its embedded engine (bound, not serving yet);
    None on a ClickHouse server, without the cold tier, or with the port set to 0."""
    if settings.clickhouse_url or not settings.cold_tier_enabled:
        return None
    if not settings.dev_clickhouse_port:
        return None
    from devstack.sql_endpoint import dev_endpoint

    return dev_endpoint(settings)


def clickhouse_url(settings: Settings, endpoint: HttpShim | None) -> str | None:
    """The CLICKHOUSE_URL other processes use next to `dev`: its endpoint's, with the
    database, or the configured server's; None when they have none."""
    if settings.clickhouse_url:
        return settings.clickhouse_url
    if endpoint is None:
        return None
    return f"{endpoint.url}/{settings.clickhouse_database or 'default'}"


def dev_environment(settings: Settings, endpoint: HttpShim | None) -> dict[str, str]:
    """What another local process needs in its environment to join `dev`'s services."""
    env = {
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TEMPORAL_ADDRESS": settings.temporal_address,
    }
    if settings.kafka_idempotent_producer is False:
        env["KAFKA_IDEMPOTENT_PRODUCER"] = "false"
    url = clickhouse_url(settings, endpoint) if settings.cold_tier_enabled else None
    if url:
        env["CLICKHOUSE_URL"] = url
    for name in SHARED:
        value = getattr(settings, name)
        if value != default(name):
            env[env_name(name)] = str(value).lower() if isinstance(value, bool) else str(value)
    # dev serves the metrics of this machine's product; a process beside it that wants an
    # endpoint of its own sets another port (else it would fail on dev's).
    env["SCHEDULES_METRICS_PORT"] = "0"
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    env["SCHEDULES_API_URL"] = f"http://{host}:{settings.api_port}"
    return env


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """`NAME=value` lines a shell can source (`set -a; . path; set +a`), written whole."""
    lines = [
        f"# written by `hybrid-scheduler dev` (pid {os.getpid()}); removed when it stops",
        f"# load into a shell: set -a; . {path}; set +a",
        *(f"{name}={shlex.quote(value)}" for name, value in env.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)
