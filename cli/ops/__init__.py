"""The operator commands: `stats`, `status`, `list`, `cancel`, `reschedule`, `pause`,
`resume`, `limits`, `sync`, `cleanup`, `dead-letters`, `recurring` talk to a running product
through its HTTP API (`--url`, else SCHEDULES_API_URL, else http://127.0.0.1:8000;
`--token`, else SCHEDULES_API_TOKEN, sent as a bearer token), so they work against `make
dev` and a deployed API alike. `tail` reads a Kafka topic (KAFKA_BOOTSTRAP_SERVERS) and
`maintenance` talks to ClickHouse (CLICKHOUSE_URL, or the embedded engine through the
running product's SQL endpoint).

This module only builds their parsers (argparse alone, so `--help` stays fast); each
command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
from typing import Any

COMMANDS = frozenset(
    {
        "stats",
        "status",
        "list",
        "cancel",
        "reschedule",
        "pause",
        "resume",
        "limits",
        "sync",
        "cleanup",
        "tail",
        "maintenance",
        "dead-letters",
        "recurring",
    }
)
DEFAULT_URL = "http://127.0.0.1:8000"
# What dead letters can be filtered by (scheduler.deadletters.model, not imported here).
REASONS = (
    "invalid",
    "beyond_horizon",
    "internal",
    "permanent_error",
    "retries_exhausted",
    "unreadable_payload",
    "unknown",
)
# What `maintenance` may touch (scheduler.cold.upkeep.TABLES, not imported here).
TABLES = ("event_schedules_log", "schedule_execution_results", "schedule_performance_metrics")


def _api_options(parser: argparse.ArgumentParser, timeout: float, why: str = "") -> None:
    parser.add_argument(
        "--url", help=f"the HTTP API (default: $SCHEDULES_API_URL, else {DEFAULT_URL})"
    )
    parser.add_argument("--token", help="bearer token (default: $SCHEDULES_API_TOKEN)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=timeout,
        help=f"seconds to wait for the API's answer ({timeout:g}){why}",
    )
    parser.add_argument("--json", action="store_true", help="print the API's answer as JSON")


def add_commands(sub: Any) -> None:
    """Add the operator commands to `hybrid-scheduler`'s subparsers."""
    stats = sub.add_parser("stats", help="queue depths with the runbook's levels, roles, pauses")
    status = sub.add_parser("status", help="where one schedule is and what happened to it")
    status.add_argument("schedule_id")
    cancel = sub.add_parser("cancel", help="cancel one schedule (in either tier)")
    cancel.add_argument("schedule_id")
    reschedule = sub.add_parser(
        "reschedule",
        help="a new time (and optionally body, headers, priority) for a pending schedule, "
        "in either tier; it keeps its id",
    )
    reschedule.add_argument("schedule_id")
    when = reschedule.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--at", metavar="TIME", help="ISO 8601 with a timezone, e.g. 2030-01-01T09:00:00Z"
    )
    when.add_argument("--delay", type=float, metavar="SECONDS", help="this many seconds from now")
    body = reschedule.add_mutually_exclusive_group()
    body.add_argument("--body", help="a new body, as text")
    body.add_argument("--json-body", metavar="JSON", help="a new body, as JSON")
    reschedule.add_argument(
        "--header",
        action="append",
        metavar="NAME=VALUE",
        help="new headers (repeat for several): they replace the old ones",
    )
    reschedule.add_argument("--priority", type=int, help="a new priority")

    pause = sub.add_parser("pause", help="stop firing: everything, one topic, or low priorities")
    scope = pause.add_mutually_exclusive_group(required=True)
    scope.add_argument("--all", action="store_true", help="everything")
    scope.add_argument("--topic", help="events for this Kafka topic")
    scope.add_argument(
        "--priority-below",
        type=int,
        metavar="N",
        help="events whose priority is lower than N (replaces an earlier threshold)",
    )
    pause.add_argument("--reason", help="shown in stats")
    resume = sub.add_parser("resume", help="end a pause; the events it held fire at once")
    scope = resume.add_mutually_exclusive_group(required=True)
    scope.add_argument("--all", action="store_true", help="end every pause")
    scope.add_argument("--topic", help="end this topic's pause")
    scope.add_argument("--priority", action="store_true", help="end the priority pause")
    for parser in (stats, status, cancel, reschedule, pause, resume):
        _api_options(parser, 10.0)

    limits = sub.add_parser(
        "limits", help="per-topic rate limits: list them, set one, clear one set at run time"
    )
    actions = limits.add_subparsers(dest="limits_action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="every limit in force (settings and run time), with the events waiting"
    )
    setting = actions.add_parser(
        "set", help="fire at most N events per second to TOPIC (overrides its setting)"
    )
    setting.add_argument("topic")
    setting.add_argument("events_per_second", type=float, metavar="N", help="events per second")
    setting.add_argument(
        "--burst",
        type=float,
        metavar="B",
        help="at most B at once after a quiet period (default: one second's worth)",
    )
    clearing = actions.add_parser(
        "clear", help="remove TOPIC's limit set at run time (its setting, if any, applies again)"
    )
    clearing.add_argument("topic")
    for parser in (listing, setting, clearing):
        _api_options(parser, 10.0)

    for job, what in (
        ("sync", "move cold schedules due within the transfer horizon into Redis now"),
        ("cleanup", "remove finished schedules older than retention, and orphaned hot data"),
    ):
        _api_options(
            sub.add_parser(job, help=what),
            600.0,
            "; a job on Temporal that outlasts SCHEDULES_API_JOB_WAIT_SECONDS is answered "
            "with its workflow id",
        )

    _add_list(sub)

    tail = sub.add_parser(
        "tail",
        help="watch events arrive on a Kafka topic: headers, lateness (record time minus "
        "scheduled_at), body; Ctrl-C stops",
    )
    tail.add_argument("topic")
    tail.add_argument("--count", type=int, metavar="N", help="stop after N events")
    tail.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")
    tail.add_argument(
        "--from-beginning", action="store_true", help="also show what the topic holds already"
    )
    tail.add_argument("--bootstrap", help="Kafka brokers (default: $KAFKA_BOOTSTRAP_SERVERS)")
    tail.add_argument("--json", action="store_true", help="one JSON object per event")
    tail.add_argument(
        "--body-chars", type=int, default=200, metavar="N", help="longest body shown (200)"
    )

    _dead_letters(sub)
    _recurring(sub)

    maintenance = sub.add_parser(
        "maintenance",
        help="the runbook's ClickHouse maintenance: OPTIMIZE TABLE ... FINAL, CHECK TABLE",
    )
    maintenance.add_argument(
        "action", choices=["optimize", "check"], help="optimize: merge parts; check: checksums"
    )
    maintenance.add_argument(
        "--table",
        action="append",
        choices=TABLES,
        help="repeat for several (default: all of them)",
    )


def _dead_letters(sub: Any) -> None:
    dead = sub.add_parser(
        "dead-letters", help="list dead-lettered events and envelopes, and replay them"
    )
    actions = dead.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the newest dead letters first, with their ids")
    replay = actions.add_parser(
        "replay",
        help="schedule dead letters again: by id, or those the filters match (at most "
        "--limit); each is replayed once however often asked",
    )
    replay.add_argument("ids", nargs="*", metavar="ID", help="ids as `dead-letters list` shows")
    replay.add_argument(
        "--new-ids",
        dest="mode",
        action="store_const",
        const="new_id",
        default="same_id",
        help="as new events with new ids (default: new attempts of the same schedule_ids)",
    )
    replay.add_argument("--dry-run", action="store_true", help="only show what would be replayed")
    for parser in (listing, replay):
        parser.add_argument("--reason", choices=REASONS)
        parser.add_argument("--topic", help="the events' target topic")
        parser.add_argument(
            "--source", choices=("all", "topic", "cold"), help="where to look (default: all)"
        )
        parser.add_argument(
            "--since", metavar="ISO", help="dead-lettered at or after, e.g. 2026-11-23T09:00:00Z"
        )
        parser.add_argument("--until", metavar="ISO", help="dead-lettered at or before")
        parser.add_argument("--limit", type=int, metavar="N", help="at most N (default 100)")
        _api_options(parser, 30.0)


STATUSES = ("pending", "processing", "scheduled", "executed", "skipped", "error", "cancelled")


def _add_list(sub: Any) -> None:
    listing = sub.add_parser(
        "list",
        help="list and search schedules (GET /api/v1/schedules): a table of one page, with "
        "the counts by status",
    )
    listing.add_argument(
        "--status", action="append", choices=STATUSES, help="repeat for several (default: all)"
    )
    listing.add_argument("--tier", choices=("hot", "cold"))
    listing.add_argument("--topic", help="exactly this Kafka topic")
    listing.add_argument("--entity-type", dest="entity_type", help="exactly this entity type")
    listing.add_argument("--action", help="exactly this action")
    for name, what in (("from", "at or after"), ("to", "before")):
        listing.add_argument(
            f"--{name}",
            dest=f"{name}_",
            metavar="TIME",
            help=f"scheduled_at {what} TIME: RFC 3339 (2030-01-01T00:00:00Z), now, or "
            f"relative to now (+2h, +1d; in the past with '=': --{name}=-30m)",
        )
    listing.add_argument(
        "--limit", type=int, default=50, metavar="N", help="schedules per page, 1-1000 (50)"
    )
    listing.add_argument("--cursor", help="the next page: the cursor the previous one printed")
    _api_options(listing, 30.0)


def _recurring(sub: Any) -> None:
    recurring = sub.add_parser(
        "recurring",
        help="recurring schedules: list, show, create, delete, pause, resume, preview, restore",
    )
    actions = recurring.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every recurring schedule")
    show = actions.add_parser("show", help="one recurring schedule")
    create = actions.add_parser(
        "create", help="create one from a JSON definition (the same again changes nothing)"
    )
    create.add_argument(
        "definition", metavar="DEFINITION", help="JSON text, @file.json, or - for stdin"
    )
    delete = actions.add_parser("delete", help="delete one; its pending occurrences are cancelled")
    pause = actions.add_parser("pause", help="stop one; its pending occurrences are cancelled")
    resume = actions.add_parser("resume", help="start one again (missed ones: its catch-up)")
    preview = actions.add_parser("preview", help="the next occurrences, as they would fire")
    for parser in (show, delete, pause, resume):
        parser.add_argument("recurring_id")
    preview.add_argument("recurring_id", nargs="?", help="a stored recurring schedule")
    preview.add_argument(
        "--definition", metavar="DEFINITION", help="an unsaved one: JSON text, @file or -"
    )
    preview.add_argument("--count", type=int, default=10, metavar="N", help="how many (10)")
    restore = actions.add_parser(
        "restore", help="after Redis lost its data: put back the definitions ClickHouse mirrors"
    )
    for parser in (listing, show, create, delete, pause, resume, preview, restore):
        _api_options(parser, 30.0)


def run(args: argparse.Namespace) -> int:
    """Run an operator command; the exit code."""
    try:
        if args.command == "tail":
            from cli.ops.tail import cmd_tail

            return cmd_tail(args)
        if args.command == "list":
            from cli.ops.listing import cmd_list

            return cmd_list(args)
        if args.command == "maintenance":
            from cli.ops.maintenance import cmd_maintenance

            return cmd_maintenance(args)
        if args.command == "recurring":
            from cli.ops.recurring import cmd_recurring

            return cmd_recurring(args)
        if args.command == "dead-letters":
            from cli.ops.deadletters import cmd_dead_letters

            return cmd_dead_letters(args)
        from cli.ops.commands import cmd_api

        return cmd_api(args)
    except KeyboardInterrupt:
        return 130
