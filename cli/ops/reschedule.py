"""`reschedule ID --at T | --delay S`: a new time (and optionally body, headers,
priority) for a pending schedule, through PATCH /api/v1/schedules/ID."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from cli.ops.client import Api, OperatorError
from cli.ops.console import out, print_json


def reschedule(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.at is not None:
        body["scheduled_at"] = args.at
    else:
        body["delay_seconds"] = args.delay
    if args.body is not None:
        body["body"] = args.body
    if args.json_body is not None:
        try:
            body["body"] = json.loads(args.json_body)
        except ValueError as exc:
            raise OperatorError(f"--json-body is not JSON: {exc}") from None
    if args.header is not None:
        body["headers"] = dict(_header(h) for h in args.header)
    if args.priority is not None:
        body["priority"] = args.priority
    _, answer = api.call("PATCH", f"/api/v1/schedules/{quote(args.schedule_id, safe='')}", body)
    if args.json:
        print_json(answer)
        return 0
    moved = (
        f", moved from the {answer['previous_tier']} tier"
        if answer["previous_tier"] != answer["tier"]
        else ""
    )
    out.print(
        f"rescheduled {answer['schedule_id']}: {answer['previous_scheduled_at']} -> "
        f"{answer['scheduled_at']} ({answer['tier']} tier{moved})",
        markup=False,
    )
    return 0


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise OperatorError(f"--header {text!r}: give it as NAME=VALUE")
    return name, value
