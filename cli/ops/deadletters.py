"""`dead-letters list` and `dead-letters replay`: GET /api/v1/dead-letters and POST
/api/v1/dead-letters/replay, the answer as a table (or as JSON with `--json`)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlencode

from rich.markup import escape
from rich.table import Table

from cli.ops.client import Api, OperatorError
from cli.ops.console import fail, out, print_json, show

URL = "/api/v1/dead-letters"
OUTCOME_STYLE = {"replayed": "green", "would_replay": "cyan", "not_replayable": "red"}


def cmd_dead_letters(args: argparse.Namespace) -> int:
    try:
        with Api(args.url, args.token, args.timeout) as api:
            return list_(api, args) if args.action == "list" else replay(api, args)
    except OperatorError as exc:
        fail(str(exc))
        return exc.code


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "reason": args.reason,
        "topic": args.topic,
        "source": args.source,
        "since": args.since,
        "until": args.until,
        "limit": args.limit,
    }
    return {k: v for k, v in given.items() if v is not None}


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else escape(str(value))


def list_(api: Api, args: argparse.Namespace) -> int:
    _, page = api.call("GET", URL + _query(_filters(args)))
    if args.json:
        print_json(page)
        return 0
    table = Table()
    for column in ("id", "dead-lettered at", "reason", "topic", "schedule_id", "replay"):
        table.add_column(column)
    for item in page["items"]:
        if item.get("replayed_as"):
            replay = f"[green]replayed as {escape(item['replayed_as'])}[/]"
        elif item.get("replayable"):
            replay = "replayable"
        else:
            replay = f"[red]no[/]: {_cell(item.get('not_replayable_reason'))}"
        table.add_row(
            _cell(item["id"]),
            _cell(item["dead_lettered_at"]),
            _cell(item["reason"]),
            _cell(item.get("topic")),
            _cell(item.get("schedule_id")),
            replay,
        )
    more = "" if page["complete"] else "; more may match (narrow with --since/--until)"
    show(f"{page['count']} dead letters ({page['scanned']} topic messages read{more})", table)
    return 0


def replay(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {**_filters(args), "mode": args.mode, "dry_run": args.dry_run}
    if args.ids:
        body["ids"] = args.ids
    _, answer = api.call("POST", f"{URL}/replay", body)
    if args.json:
        print_json(answer)
        return 0
    table = Table()
    for column in ("id", "outcome", "schedule_id", "topic", "detail"):
        table.add_column(column)
    for item in answer["items"]:
        style = OUTCOME_STYLE.get(item["outcome"], "")
        outcome = f"[{style}]{item['outcome']}[/]" if style else item["outcome"]
        table.add_row(
            _cell(item["id"]),
            outcome,
            _cell(item.get("schedule_id")),
            _cell(item.get("topic")),
            _cell(item.get("detail")),
        )
    if answer["dry_run"]:
        title = f"dry run: {answer['would_replay']} of {answer['selected']} would be replayed"
    else:
        title = f"{answer['replayed']} of {answer['selected']} replayed"
    show(f"{title} ({answer['skipped']} not)", table)
    if not answer["items"]:
        out.print("no dead letter matched", markup=False)
    return 0


def _query(params: dict[str, Any]) -> str:
    return f"?{urlencode(params)}" if params else ""
