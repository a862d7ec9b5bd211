"""`stats`, `status`, `cancel`, `pause`, `resume`, `limits`, `sync`, `cleanup`: one call
to the HTTP API each, the answer as a table (or as JSON with `--json`)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from rich.markup import escape
from rich.table import Table

from cli.ops.client import Api, OperatorError
from cli.ops.console import fail, out, print_json, show, spinner
from cli.ops.reschedule import reschedule

MONITORING = "/api/v1/schedules/monitoring"
RATE_LIMITS = f"{MONITORING}/rate-limits"
LEVEL_STYLE = {"normal": "green", "warning": "yellow", "critical": "bold red"}


def cmd_api(args: argparse.Namespace) -> int:
    try:
        with Api(args.url, args.token, args.timeout) as api:
            return COMMANDS[args.command](api, args)
    except OperatorError as exc:
        fail(str(exc))
        return exc.code


def _count(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.3f}" if isinstance(value, float) else str(value)


def _level(level: str | None) -> str:
    if level is None:
        return "[dim]unknown[/]"
    return f"[{LEVEL_STYLE.get(level, '')}]{level}[/]"


def _plain(value: Any) -> str:
    """One cell (markup escaped): dicts as `k v, ...`, lists comma-separated, None as -."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        text = ", ".join(f"{k} {_count(v)}" for k, v in value.items()) or "none"
    elif isinstance(value, list):
        text = ", ".join(map(str, value)) or "none"
    else:
        text = _count(value)
    return escape(text)


# --- stats --------------------------------------------------------------------------------


def stats(api: Api, args: argparse.Namespace) -> int:
    _, answer = api.call("GET", f"{MONITORING}/stats")
    if args.json:
        print_json(answer)
        return 0
    levels = answer.get("levels") or {}
    table = Table()
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column("level")
    table.add_row(
        "Redis pending", _count(answer["redis_pending"]), _level(levels.get("redis_pending"))
    )
    pending = answer.get("pending")
    table.add_row(
        "ClickHouse pending",
        "unreachable" if pending is None else _count(pending),
        _level(levels.get("pending")),
    )
    for key, label in (
        ("processing", "ClickHouse processing"),
        ("in_flight", "in flight"),
        ("dead_lettered", "dead-lettered"),
        ("journal_buffered", "journal buffered"),
        ("circuit_breaker", "circuit breaker"),
    ):
        if key in answer:
            table.add_row(label, _count(answer[key]), "")
    if "ingest" in answer:
        table.add_row("ingested", _plain(answer["ingest"]), "")
    running = answer.get("running") or {}
    table.add_row("roles in the API process", _roles(running) or "none (API only)", "")
    table.add_row("paused", _paused_summary(answer.get("paused")), "")
    limits = answer.get("rate_limits") or {}
    table.add_row("rate limits", _limits_summary(limits), "")
    show(f"hybrid-scheduler stats ({api.url})", table)
    if answer.get("cold_error"):
        out.print(f"ClickHouse: {answer['cold_error']}", markup=False)
    _print_pauses(answer.get("paused"))
    _print_limits(limits.get("limits") or [])
    return 0


def _roles(running: dict[str, bool]) -> str:
    return ", ".join(
        name if alive else f"{name} [red](stopped)[/]" for name, alive in running.items()
    )


def _paused_summary(paused: dict[str, Any] | None) -> str:
    if not paused or not paused.get("active"):
        return "no"
    parts = []
    if paused.get("all"):
        parts.append("everything")
    if paused.get("topics"):
        parts.append("topics " + escape(", ".join(paused["topics"])))
    if paused.get("priority_below") is not None:
        parts.append(f"priority < {paused['priority_below']}")
    return f"[yellow]{'; '.join(parts)}[/] ({_count(paused.get('held', 0))} held)"


def _print_pauses(paused: dict[str, Any] | None) -> None:
    if not paused or not paused.get("pauses"):
        return
    table = Table()
    for column in ("scope", "what", "since", "reason"):
        table.add_column(column)
    for p in paused["pauses"]:
        what = p.get("topic") or (
            f"priority < {p['priority_below']}" if p.get("priority_below") is not None else "all"
        )
        table.add_row(p["scope"], escape(what), str(p.get("since", "")), _plain(p.get("reason")))
    show("pauses", table)


# --- one schedule -------------------------------------------------------------------------


def _path(schedule_id: str) -> str:
    return f"/api/v1/schedules/{quote(schedule_id, safe='')}"


def status(api: Api, args: argparse.Namespace) -> int:
    _, answer = api.call("GET", _path(args.schedule_id))
    if args.json:
        print_json(answer)
        return 0
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in answer.items():
        table.add_row(key, _plain(value))
    show(f"schedule {args.schedule_id}", table)
    return 0


def cancel(api: Api, args: argparse.Namespace) -> int:
    _, answer = api.call("DELETE", _path(args.schedule_id))
    if args.json:
        print_json(answer)
    elif answer.get("cancelled") == "in_flight":
        out.print(
            f"cancelled {args.schedule_id}: it was in flight (claimed by an executor) and "
            "may already have been published",
            markup=False,
        )
    else:
        out.print(f"cancelled {args.schedule_id} (it was {answer.get('cancelled')})", markup=False)
    return 0


# --- pause / resume -----------------------------------------------------------------------


def pause(api: Api, args: argparse.Namespace) -> int:
    if args.all:
        body: dict[str, Any] = {"all": True}
    elif args.topic is not None:
        body = {"topic": args.topic}
    else:
        body = {"priority_below": args.priority_below}
    if args.reason:
        body["reason"] = args.reason
    return _show_paused(api.call("POST", f"{MONITORING}/pause", body)[1], args)


def resume(api: Api, args: argparse.Namespace) -> int:
    if args.all:
        body: dict[str, Any] = {"all": True}
    elif args.topic is not None:
        body = {"topic": args.topic}
    else:
        body = {"priority": True}
    return _show_paused(api.call("POST", f"{MONITORING}/resume", body)[1], args)


def _show_paused(answer: dict[str, Any], args: argparse.Namespace) -> int:
    if args.json:
        print_json(answer)
        return 0
    if not answer.get("active"):
        out.print("nothing is paused")
    else:
        out.print(f"paused: {_paused_summary(answer)}")
        _print_pauses(answer)
    return 0


# --- rate limits --------------------------------------------------------------------------


def _limits_summary(limits: dict[str, Any]) -> str:
    n = len(limits.get("limits") or [])
    if not n:
        return "none"
    waiting = limits.get("throttled", 0)
    return f"{n} topic{'s' if n > 1 else ''} ({_count(waiting)} events waiting)"


def _rate(limit: dict[str, Any]) -> str:
    return f"{limit['events_per_second']:,g}/s, burst {limit['burst']:,g}"


def _print_limits(limits: list[dict[str, Any]]) -> None:
    if not limits:
        return
    table = Table()
    for column in ("topic", "limit", "source", "waiting", "since"):
        table.add_column(column, justify="right" if column == "waiting" else "left")
    for lim in limits:
        source = lim["source"]
        if lim.get("overrides"):
            source += f" (setting: {_rate(lim['overrides'])})"
        table.add_row(
            escape(lim["topic"]),
            _rate(lim),
            source,
            _count(lim.get("throttled", 0)),
            str(lim.get("since") or "-"),
        )
    show("rate limits", table)


def limits(api: Api, args: argparse.Namespace) -> int:
    action = args.limits_action
    if action == "list":
        answer = api.call("GET", RATE_LIMITS)[1]
        if args.json:
            print_json(answer)
        elif not answer.get("limits"):
            out.print("no topic has a rate limit")
        else:
            _print_limits(answer["limits"])
        return 0
    path = f"{RATE_LIMITS}/{quote(args.topic, safe='')}"
    if action == "set":
        body: dict[str, Any] = {"events_per_second": args.events_per_second}
        if args.burst is not None:
            body["burst"] = args.burst
        answer = api.call("PUT", path, body)[1]
        if args.json:
            print_json(answer)
        else:
            out.print(f"{escape(args.topic)}: at most {_rate(answer)}, set at run time")
        return 0
    answer = api.call("DELETE", path)[1]
    if args.json:
        print_json(answer)
    elif answer.get("limit"):
        out.print(
            f"cleared {escape(args.topic)}'s run-time limit; its setting applies again: "
            f"{_rate(answer['limit'])}"
        )
    else:
        out.print(f"cleared {escape(args.topic)}'s rate limit; it has none now")
    return 0


# --- jobs ---------------------------------------------------------------------------------


def job(api: Api, args: argparse.Namespace) -> int:
    name = args.command
    with spinner(f"{name}: waiting for the job (via {api.url})"):
        code, answer = api.call("POST", f"{MONITORING}/{name}", ok=(200, 202))
    if args.json:
        print_json(answer)
        return 0
    if code == 202 or not answer.get("finished", True):
        workflow = answer.get("workflow_id")
        out.print(
            f"{name} is still running as Temporal workflow {workflow}; follow it with "
            f"`temporal workflow show -w {workflow}`",
            markup=False,
        )
        return 0
    table = Table()
    table.add_column("")
    table.add_column("value", justify="right")
    for key, value in answer.items():
        if key not in ("job", "via", "finished", "workflow_id"):
            table.add_row(key.replace("_", " "), _plain(value))
    if answer.get("workflow_id"):
        table.add_row("workflow id", answer["workflow_id"])
    show(f"{name} finished (via {answer.get('via')})", table)
    return 0


COMMANDS = {
    "stats": stats,
    "status": status,
    "cancel": cancel,
    "reschedule": reschedule,
    "pause": pause,
    "resume": resume,
    "limits": limits,
    "sync": job,
    "cleanup": job,
}
