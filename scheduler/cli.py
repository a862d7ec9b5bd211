"""`hybrid-scheduler`: the command line.

hybrid-scheduler dev                     embedded Redis, Kafka and Temporal + every role
hybrid-scheduler serve --role executor   one role against configured services
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from scheduler.errors import SchedulerError
from scheduler.runtime.services import EmbeddedStack
from scheduler.service import ROLES, SchedulerService
from scheduler.settings import Settings, load_settings

log = logging.getLogger("hybrid_scheduler")

DEV_PORTS = {"redis": 6379, "kafka": 9092, "temporal": 7233, "temporal_ui": 8233}


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


async def run_roles(settings: Settings, roles: Sequence[str]) -> None:
    """Run the given roles until SIGINT/SIGTERM, then stop them cleanly."""
    service = SchedulerService(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start(roles)
    try:
        roles_done = asyncio.create_task(service.wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({roles_done, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if roles_done.done():
            roles_done.result()  # a role died: surface its error
        stopped.cancel()
        roles_done.cancel()
    finally:
        log.info("stopping")
        await service.stop()


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
        }
        if "kafka" in stack.processes and settings.kafka_idempotent_producer is None:
            update["kafka_idempotent_producer"] = False  # Tansu rejects InitProducerId
        dev_settings = settings.model_copy(update=update)
        if "temporal" in stack.processes:
            log.info("Temporal UI: http://127.0.0.1:%d", DEV_PORTS["temporal_ui"])
        asyncio.run(run_roles(dev_settings, ROLES))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybrid-scheduler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run everything on embedded services (state in .dev/)")
    serve = sub.add_parser("serve", help="run roles against the configured services")
    serve.add_argument(
        "--role",
        action="append",
        choices=[*ROLES, "all"],
        required=True,
        help="role to run; repeat for several ('all' = every role)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SchedulerError as exc:
        print(f"hybrid-scheduler: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    try:
        if args.command == "dev":
            cmd_dev(settings)
        elif args.command == "serve":
            roles = ROLES if "all" in args.role else tuple(dict.fromkeys(args.role))
            asyncio.run(run_roles(settings, roles))
    except SchedulerError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
