"""`recurring list|show|create|delete|pause|resume|preview|restore`: /api/v1/recurring, the
answer as a table (or as JSON with `--json`). A definition is given as JSON text,
`@path` (a file) or `-` (standard input)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from rich.markup import escape
from rich.table import Table

from cli.ops.client import Api, OperatorError
from cli.ops.console import fail, out, print_json, show

URL = "/api/v1/recurring"


def cmd_recurring(args: argparse.Namespace) -> int:
    try:
        with Api(args.url, args.token, args.timeout) as api:
            return ACTIONS[args.action](api, args)
    except OperatorError as exc:
        fail(str(exc))
        return exc.code


def _one(recurring_id: str) -> str:
    return f"{URL}/{quote(recurring_id, safe='')}"


def _definition(text: str) -> Any:
    """The definition a command line gives: JSON text, @file or - (stdin)."""
    try:
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise OperatorError(f"cannot read the definition: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise OperatorError(f"the definition is not JSON: {exc}") from None


def _rule(d: dict[str, Any]) -> str:
    if d.get("cron"):
        return f"cron {d['cron']} ({d.get('timezone', 'UTC')})"
    return f"every {d.get('interval_seconds')} s"


def _state(d: dict[str, Any]) -> str:
    return "[yellow]paused[/]" if d.get("paused") else "[green]active[/]"


def list_(api: Api, args: argparse.Namespace) -> int:
    answer = api.call("GET", URL)[1]
    if args.json:
        print_json(answer)
        return 0
    if not answer["recurring"]:
        out.print("no recurring schedules")
        return 0
    table = Table()
    for column in ("recurring_id", "rule", "topic", "state", "version", "updated"):
        table.add_column(column)
    for d in answer["recurring"]:
        table.add_row(
            escape(d["recurring_id"]),
            escape(_rule(d)),
            escape(d["event"]["topic"]),
            _state(d),
            str(d["version"]),
            escape(d["updated_at"]),
        )
    show(f"{len(answer['recurring'])} recurring schedules", table)
    return 0


def _show(d: dict[str, Any], title: str) -> None:
    table = Table(show_header=False)
    table.add_column("")
    table.add_column("")
    table.add_row("rule", escape(_rule(d)))
    table.add_row("state", _state(d))
    for key in ("start_at", "end_at", "jitter_seconds", "catch_up", "catch_up_limit"):
        if d.get(key) is not None:
            table.add_row(key.replace("_", " "), escape(str(d[key])))
    table.add_row("event", escape(json.dumps(d["event"], ensure_ascii=False)))
    for key in ("version", "generation", "created_at", "updated_at", "paused_at"):
        if d.get(key) is not None:
            table.add_row(key.replace("_", " "), escape(str(d[key])))
    show(title, table)


def show_(api: Api, args: argparse.Namespace) -> int:
    d = api.call("GET", _one(args.recurring_id))[1]
    if args.json:
        print_json(d)
    else:
        _show(d, escape(d["recurring_id"]))
    return 0


def create(api: Api, args: argparse.Namespace) -> int:
    status, d = api.call("POST", URL, _definition(args.definition), ok=(200, 201))
    if args.json:
        print_json(d)
    else:
        what = "created" if status == 201 else "exists already, unchanged"
        _show(d, f"{escape(d['recurring_id'])}: {what}")
    return 0


def delete(api: Api, args: argparse.Namespace) -> int:
    answer = api.call("DELETE", _one(args.recurring_id))[1]
    if args.json:
        print_json(answer)
    else:
        out.print(
            f"deleted {escape(args.recurring_id)} (version {answer['version']}); "
            "its pending occurrences are cancelled"
        )
    return 0


def pause(api: Api, args: argparse.Namespace) -> int:
    d = api.call("POST", _one(args.recurring_id) + "/pause")[1]
    if args.json:
        print_json(d)
    else:
        out.print(f"{escape(args.recurring_id)} paused; its pending occurrences are cancelled")
    return 0


def resume(api: Api, args: argparse.Namespace) -> int:
    d = api.call("POST", _one(args.recurring_id) + "/resume")[1]
    if args.json:
        print_json(d)
    else:
        out.print(
            f"{escape(args.recurring_id)} resumed (catch-up: {d['catch_up']}); "
            f"generation {d['generation']}"
        )
    return 0


def preview(api: Api, args: argparse.Namespace) -> int:
    count = f"?count={args.count}"
    if args.definition is not None:
        answer = api.call("POST", f"{URL}/preview{count}", _definition(args.definition))[1]
    elif args.recurring_id is not None:
        answer = api.call("GET", _one(args.recurring_id) + f"/preview{count}")[1]
    else:
        raise OperatorError("give a recurring_id, or --definition for an unsaved one")
    if args.json:
        print_json(answer)
        return 0
    table = Table()
    for column in ("schedule_id", "nominal_at", "scheduled_at"):
        table.add_column(column)
    for o in answer["occurrences"]:
        table.add_row(escape(o["schedule_id"]), o["nominal_at"], o["scheduled_at"])
    show(f"next {len(answer['occurrences'])} of {escape(answer['recurring_id'])}", table)
    return 0


def restore(api: Api, args: argparse.Namespace) -> int:
    answer = api.call("POST", f"{URL}/restore")[1]
    if args.json:
        print_json(answer)
    else:
        out.print(
            f"restored {answer['restored']} recurring schedules from the ClickHouse mirror "
            f"({answer['kept']} were still in Redis)"
        )
    return 0


ACTIONS = {
    "restore": restore,
    "list": list_,
    "show": show_,
    "create": create,
    "delete": delete,
    "pause": pause,
    "resume": resume,
    "preview": preview,
}
