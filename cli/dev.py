"""`hybrid-scheduler dev`: start on embedded services whatever the environment does not
name (devstack), then run every role in this process."""

from __future__ import annotations

import asyncio
import logging
import os

from cli.roles import API, WORKER, run_roles
from devstack.services import EmbeddedStack
from scheduler.roles import ROLES
from scheduler.settings import Settings

log = logging.getLogger("hybrid_scheduler")

DEV_PORTS = {"redis": 6379, "kafka": 9092, "temporal": 7233, "temporal_ui": 8233}
# `dev` runs the worker, not the in-process `sync` role: never both (double the work).
DEV_ROLES = (*(r for r in ROLES if r != "sync"), WORKER, API)


def cmd_dev(settings: Settings) -> None:
    """Start what is not configured in the environment, then run every role."""
    external = {
        "redis": os.environ.get("REDIS_URL"),
        "kafka": os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        "temporal": os.environ.get("TEMPORAL_ADDRESS"),
    }
    with EmbeddedStack(
        settings.dev_dir,
        redis=external["redis"] or DEV_PORTS["redis"],
        kafka=external["kafka"] or DEV_PORTS["kafka"],
        temporal=external["temporal"] or DEV_PORTS["temporal"],
        temporal_ui_port=DEV_PORTS["temporal_ui"],
    ) as stack:
        for name, proc in stack.processes.items():
            log.info("started embedded %s on port %d (log: %s)", name, proc.port, proc.log_path)
        update: dict[str, object] = {
            "redis_url": stack.redis_url,
            "kafka_bootstrap_servers": stack.kafka_bootstrap,
            "temporal_address": stack.temporal_address,
            "clickhouse_auto_migrate": True,
        }
        if not settings.clickhouse_url:
            log.info("embedded ClickHouse (chdb) at %s", settings.clickhouse_path.resolve())
        if "kafka" in stack.processes and settings.kafka_idempotent_producer is None:
            update["kafka_idempotent_producer"] = False  # Tansu rejects InitProducerId
        dev_settings = settings.model_copy(update=update)
        if "temporal" in stack.processes:
            log.info("Temporal UI: http://127.0.0.1:%d", DEV_PORTS["temporal_ui"])
        embedded = ", ".join(f"{name} ({proc.port})" for name, proc in stack.processes.items())
        try:
            asyncio.run(run_roles(dev_settings, DEV_ROLES))
        finally:
            log.info("stopping the embedded services: %s", embedded or "none")
    log.info("stopped the embedded services")
