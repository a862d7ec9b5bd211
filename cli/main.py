"""`hybrid-scheduler`: the command line.

hybrid-scheduler dev                     embedded Redis, Kafka, Temporal, ClickHouse + every role
hybrid-scheduler serve --role executor   one role against configured services
hybrid-scheduler serve --role api        the HTTP API on SCHEDULES_API_HOST:SCHEDULES_API_PORT
hybrid-scheduler worker                  the Temporal worker (= serve --role worker)
hybrid-scheduler migrate                 apply pending ClickHouse migrations
hybrid-scheduler sql "SELECT ..."        read-only SQL on the cold tier (embedded mode too)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence

from scheduler.cold import connect_clickhouse, migrate
from scheduler.cold.operator_sql import run_sql, start_product_shim
from scheduler.errors import ConfigError, ReadOnlySql, SchedulerError
from scheduler.runtime.services import EmbeddedStack
from scheduler.service import ROLES, SchedulerService
from scheduler.settings import Settings, load_settings
from workflows.worker import start_worker

log = logging.getLogger("hybrid_scheduler")

DEV_PORTS = {"redis": 6379, "kafka": 9092, "temporal": 7233, "temporal_ui": 8233}
WORKER = "worker"  # the Temporal worker: runs sync, cleanup and recovery as Schedules
API = "api"  # the HTTP API (uvicorn in this process, on this process's SchedulerService)
# `dev` runs the worker, not the in-process `sync` role: never both (double the work).
DEV_ROLES = (*(r for r in ROLES if r != "sync"), WORKER, API)
_COLD = "SCHEDULES_COLD_TIER_ENABLED=false"


class QuietRepeats(logging.Filter):
    """Lets a client library's repeated message through once per `every` seconds.

    While a service is down, aiokafka logs an error for every reconnect attempt (about
    ten a second), and urllib3 and clickhouse_connect one per request; our own loops
    log an outage once (scheduler.hot.backoff.Outage). A message counts as repeated when
    its logger and format string are the same, whatever its arguments; the next one let
    through says how many were held back.
    """

    LIBRARIES = ("aiokafka", "urllib3", "clickhouse_connect")

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LIBRARIES):
            return True
        key = (record.name, record.msg)
        now = self.clock()
        last, held = self._seen.get(key, (None, 0))
        if last is not None and now - last < self.every:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} [{held} more like this held back]"
            record.args = None
        return True


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(QuietRepeats())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def expand_roles(requested: Sequence[str], settings: Settings) -> tuple[str, ...]:
    """The roles `serve --role ...` runs, in order, each once.

    `all` is every in-process role that applies here: the executor, the consumer and the
    sync, except that the sync is left out when the cold tier is disabled (there is
    nothing to sync) or the `worker` role is asked for too (it runs the sync). Roles
    named explicitly are kept as given: `--role sync` without the cold tier stays a
    configuration error.
    """
    roles: list[str] = []
    for role in requested:
        if role != "all":
            roles.append(role)
            continue
        for implied in ROLES:
            if implied == "sync" and not settings.cold_tier_enabled:
                log.info("not running the sync role: the cold tier is disabled (%s)", _COLD)
            elif implied == "sync" and WORKER in requested:
                log.info("not running the in-process sync role: the worker role runs the sync")
            else:
                roles.append(implied)
    return tuple(dict.fromkeys(roles))


async def run_roles(settings: Settings, roles: Sequence[str]) -> None:
    """Run the given roles until SIGINT/SIGTERM, then stop them cleanly."""
    with_worker = WORKER in roles
    with_api = API in roles
    roles = [r for r in roles if r not in (WORKER, API)]
    if with_worker and "sync" in roles:
        raise ConfigError("run either the `worker` role or the in-process `sync` role, not both")
    if with_worker and not settings.cold_tier_enabled:
        raise ConfigError("the worker role needs the cold tier (SCHEDULES_COLD_TIER_ENABLED)")
    service = SchedulerService(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start(roles)
    shim = start_product_shim(settings)
    worker = worker_done = server = serving = None
    try:
        running: set[asyncio.Task[None]] = set()
        if roles:
            running.add(asyncio.create_task(service.wait()))
        if with_worker:
            assert service.cold_ops is not None
            worker = await start_worker(settings, service.cold_ops)
            worker_done = asyncio.create_task(worker.run())
            running.add(worker_done)
        if with_api:
            from api.server import build_server  # the API's dependencies load only for it

            server = build_server(settings, service, worker.client if worker else None)
            serving = asyncio.create_task(server.serve())
            running.add(serving)
            log.info("HTTP API on http://%s:%d", settings.api_host, settings.api_port)
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
        log.info("stopping")
        if server is not None:
            server.should_exit = True
        if worker is not None and worker_done is not None and not worker_done.done():
            await worker.shutdown()  # lets running activities finish (5 s), then ends run()
        if shim is not None:
            shim.close()
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
            "clickhouse_auto_migrate": True,
        }
        if not settings.clickhouse_url:
            log.info("embedded ClickHouse (chdb) at %s", settings.clickhouse_path.resolve())
        if "kafka" in stack.processes and settings.kafka_idempotent_producer is None:
            update["kafka_idempotent_producer"] = False  # Tansu rejects InitProducerId
        dev_settings = settings.model_copy(update=update)
        if "temporal" in stack.processes:
            log.info("Temporal UI: http://127.0.0.1:%d", DEV_PORTS["temporal_ui"])
        asyncio.run(run_roles(dev_settings, DEV_ROLES))


async def cmd_migrate(settings: Settings) -> None:
    ch = await connect_clickhouse(
        settings, database=settings.clickhouse_database, create_database=True
    )
    try:
        done = await migrate(ch, execution_history_ttl_days=settings.execution_history_ttl_days)
    finally:
        await ch.close()
    for step in done:
        print(f"applied {step}")
    print(f"ClickHouse database {ch.database!r} is up to date")


async def cmd_sql(settings: Settings, query: str, fmt: str | None) -> None:
    if fmt is None:
        fmt = "PrettyCompactMonoBlock" if sys.stdout.isatty() else "TabSeparatedWithNames"
    out = await run_sql(settings, query, fmt)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybrid-scheduler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run everything on embedded services (state in .dev/)")
    serve = sub.add_parser("serve", help="run roles against the configured services")
    serve.add_argument(
        "--role",
        action="append",
        choices=[*ROLES, WORKER, API, "all"],
        required=True,
        help="role to run; repeat for several ('all' = executor, consumer and the "
        "in-process sync, without the sync when the cold tier is disabled; use `worker` "
        "instead of `sync` where Temporal runs; `api` = the HTTP API)",
    )
    sub.add_parser(
        WORKER, help="run the Temporal worker: sync, cleanup and recovery as Temporal Schedules"
    )
    sub.add_parser("migrate", help="apply pending ClickHouse migrations")
    sql = sub.add_parser(
        "sql",
        help="run read-only SQL on the cold tier (through the running product in embedded mode)",
    )
    sql.add_argument("query", help='e.g. "SELECT status, count() FROM event_schedules GROUP BY 1"')
    sql.add_argument(
        "--format",
        help="ClickHouse output format (default: PrettyCompactMonoBlock on a terminal, "
        "else TabSeparatedWithNames); a FORMAT clause in the query wins",
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
            asyncio.run(run_roles(settings, expand_roles(args.role, settings)))
        elif args.command == WORKER:
            asyncio.run(run_roles(settings, [WORKER]))
        elif args.command == "migrate":
            asyncio.run(cmd_migrate(settings))
        elif args.command == "sql":
            asyncio.run(cmd_sql(settings, args.query, args.format))
    except ReadOnlySql as exc:
        print(f"hybrid-scheduler: {exc}", file=sys.stderr)
        return 2
    except SchedulerError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
