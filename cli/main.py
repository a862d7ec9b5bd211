"""`hybrid-scheduler`: the command line.

hybrid-scheduler dev                     embedded Redis, Kafka, Temporal, ClickHouse + every role
                                         (the `embedded` extra: hybrid-scheduler[embedded])
hybrid-scheduler serve --role executor   one role against configured services
hybrid-scheduler serve --role api        the HTTP API on SCHEDULES_API_HOST:SCHEDULES_API_PORT
hybrid-scheduler worker                  the Temporal worker (= serve --role worker)
hybrid-scheduler migrate                 apply pending ClickHouse migrations
hybrid-scheduler sql "SELECT ..."        read-only SQL on the cold tier (embedded mode too)
hybrid-scheduler healthcheck             exit 0 if this host's role answers (container probes)

Operator commands (cli/ops; to the HTTP API at --url, default http://127.0.0.1:8000):
hybrid-scheduler stats [--json]          queue depths with the runbook's levels, roles, pauses
hybrid-scheduler status ID | cancel ID   one schedule
hybrid-scheduler list [--status S] [--topic T] [--from TIME] [--to TIME] [--limit N]
                                         list and search schedules: a table, counts by status
hybrid-scheduler reschedule ID --at T | --delay S   a new time for a pending schedule
hybrid-scheduler pause|resume --all|--topic T|--priority-below N (resume: --priority)
hybrid-scheduler limits list | set TOPIC N [--burst B] | clear TOPIC   per-topic rate limits
hybrid-scheduler sync | cleanup          the manual operations
hybrid-scheduler tail TOPIC              watch events arrive, with headers and lateness
hybrid-scheduler dead-letters list|replay [ID ...] [--dry-run]   dead letters, and replaying them
hybrid-scheduler recurring list|show|create|delete|pause|resume|preview|restore
hybrid-scheduler maintenance optimize|check   OPTIMIZE TABLE ... FINAL / CHECK TABLE
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from cli import health, ops
from cli.roles import API, WORKER
from scheduler.errors import ReadOnlySql, SchedulerError
from scheduler.roles import ROLES

log = logging.getLogger("hybrid_scheduler")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybrid-scheduler",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run everything on embedded services (state in .dev/)")
    serve = sub.add_parser("serve", help="run roles against the configured services")
    serve.add_argument(
        "--role",
        action="append",
        choices=[*ROLES, WORKER, API, "all"],
        required=True,
        help="role to run; repeat for several ('all' = executor, consumer, the "
        "in-process sync and recurring, without the sync when the cold tier is disabled; use "
        "`worker` instead of `sync` and `recurring` where Temporal runs; `api` = the HTTP API)",
    )
    sub.add_parser(
        WORKER,
        help="run the Temporal worker: sync, cleanup, recovery and the recurring schedules' "
        "materialisation as Temporal Schedules",
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
    health.add_command(sub)
    ops.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "healthcheck":  # stdlib only, no settings: it runs every few seconds
        return health.cmd_healthcheck(args)
    if args.command in ops.COMMANDS:  # their own settings and errors: no product settings
        return ops.run(args)
    from cli.logs import setup_logging_from
    from scheduler.settings import load_settings

    try:
        settings = load_settings()
        setup_logging_from(settings)
    except SchedulerError as exc:
        print(f"hybrid-scheduler: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "dev":
            from cli.dev import cmd_dev

            cmd_dev(settings)
        elif args.command == "serve":
            from cli.roles import expand_roles, run_roles

            asyncio.run(run_roles(settings, expand_roles(args.role, settings)))
        elif args.command == WORKER:
            from cli.roles import run_roles

            asyncio.run(run_roles(settings, [WORKER]))
        elif args.command == "migrate":
            from cli.migrate import cmd_migrate

            asyncio.run(cmd_migrate(settings))
        elif args.command == "sql":
            from cli.sql import cmd_sql

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
