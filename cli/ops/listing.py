"""`hybrid-scheduler list`: GET /api/v1/schedules as a table (or JSON with `--json`)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from rich.markup import escape
from rich.table import Table

from cli.ops.client import Api, OperatorError
from cli.ops.console import fail, out, print_json, show

URL = "/api/v1/schedules"
_RELATIVE = re.compile(r"([+-])(\d{1,6})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
STATUS_STYLE = {"error": "red", "skipped": "yellow", "cancelled": "dim", "executed": "green"}


def when(text: str, now: datetime | None = None) -> str:
    """`now`, `+2h`, `-30m`, `+1d` (s, m, h, d) as an RFC 3339 time; anything else is
    passed on for the API to read (and name if it cannot)."""
    now = now or datetime.now(UTC)
    if text == "now":
        return now.isoformat()
    relative = _RELATIVE.fullmatch(text)
    if relative is None:
        return text
    sign, amount, unit = relative.groups()
    delta = timedelta(**{_UNITS[unit]: int(amount)})
    return (now + delta if sign == "+" else now - delta).isoformat()


def query(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": args.limit}
    for name in ("status", "tier", "topic", "entity_type", "action", "cursor"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    for name in ("from", "to"):
        value = getattr(args, f"{name}_")
        if value is not None:
            params[name] = when(value)
    return params


def cmd_list(args: argparse.Namespace) -> int:
    try:
        with Api(args.url, args.token, args.timeout) as api:
            _, page = api.call("GET", f"{URL}?{urlencode(query(args), doseq=True)}")
    except OperatorError as exc:
        fail(str(exc))
        return exc.code
    if args.json:
        print_json(page)
        return 0
    print_page(page, api.url)
    return 0


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else escape(str(value))


def _status(item: dict[str, Any]) -> str:
    status = item["status"]
    text = escape(status if item.get("hot_state") is None else f"{status} ({item['hot_state']})")
    style = STATUS_STYLE.get(status)
    return f"[{style}]{text}[/]" if style else text


def print_page(page: dict[str, Any], url: str) -> None:
    items = page["items"]
    table = Table()
    for column, justify in (
        ("scheduled_at", "left"),
        ("schedule_id", "left"),
        ("status", "left"),
        ("tier", "left"),
        ("topic", "left"),
        ("entity_type", "left"),
        ("action", "left"),
        ("priority", "right"),
        ("attempts", "right"),
        ("error", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for item in items:
        table.add_row(
            _cell(item["scheduled_at"]),
            _cell(item["schedule_id"]),
            _status(item),
            _cell(item["tier"]),
            _cell(item["topic"]),
            _cell(item["entity_type"]),
            _cell(item["action"]),
            _cell(item["priority"]),
            _cell(item["attempts"]),
            _cell(item["error"]),
        )
    show(f"schedules ({url}, from {page['source']}): {len(items)} listed", table)
    counts = page.get("counts")
    if counts is not None:
        exact = "" if page.get("counts_exact") else " (approximate)"
        figures = ", ".join(f"{status} {n:,}" for status, n in counts.items() if n)
        out.print(f"matching{exact}: {figures or 'none'}", markup=False)
    if page.get("next_cursor"):
        out.print(f"more: add --cursor {page['next_cursor']}", markup=False)
