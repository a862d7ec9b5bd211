"""`hybrid-scheduler list`, run as its own process against a real product (the `product`
of tests/test_operator_cli.py: `serve --role api --role executor` with the cold tier)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from test_operator_cli import Product, cli, ok, product  # noqa: F401 (the fixture)

from cli.ops.listing import when


def test_list_prints_a_table_with_the_counts(product: Product) -> None:  # noqa: F811
    topic = f"list-{uuid.uuid4().hex[:6]}"
    for i in range(3):  # beyond the product's 3 s horizon: waiting in ClickHouse
        product.post(topic=topic, body="x", delay_seconds=3600 + i, schedule_id=f"{topic}-{i}",
                     entity_type="user", action="remind", priority=i)  # fmt: skip
    product.post(topic=f"{topic}-other", body="y", delay_seconds=7200, schedule_id=f"{topic}-o")

    table = ok(product.env, "list", "--topic", topic)
    rows = [line for line in table.splitlines() if f"{topic}-" in line]
    assert [re.search(rf"{topic}-\d", r)[0] for r in rows] == [f"{topic}-{i}" for i in range(3)]  # type: ignore[index]
    assert all("pending" in r and "cold" in r and "remind" in r for r in rows)
    assert "matching: pending 3" in table
    assert "3 listed" in table and "more:" not in table

    page = json.loads(ok(product.env, "list", "--topic", topic, "--limit", "2", "--json"))
    assert [i["schedule_id"] for i in page["items"]] == [f"{topic}-0", f"{topic}-1"]
    first = ok(product.env, "list", "--topic", topic, "--limit", "2")
    (cursor,) = re.findall(r"more: add --cursor (\S+)", first)
    rest = json.loads(
        ok(product.env, "list", "--topic", topic, "--limit", "2", "--cursor", cursor, "--json")
    )
    assert [i["schedule_id"] for i in rest["items"]] == [f"{topic}-2"]
    assert rest["next_cursor"] is None

    # A time in the past as the README writes it (argparse reads `--from -1d` as an option).
    past = json.loads(ok(product.env, "list", "--from=-1d", "--to", "now", "--json"))
    assert past["items"] == []
    window = ok(product.env, "list", "--from", "+90m", "--to", "+3h", "--json")
    assert [i["schedule_id"] for i in json.loads(window)["items"]] == [f"{topic}-o"]
    assert f"{topic}-0" in ok(product.env, "list", "--status", "pending", "--status", "error")
    assert f"{topic}-0" not in ok(product.env, "list", "--status", "executed", "--topic", topic)


def test_bad_input_is_one_line_naming_the_parameter(product: Product) -> None:  # noqa: F811
    for args, named in (
        (("--from", "yesterday"), "from:"),
        (("--limit", "0"), "limit:"),
        (("--cursor", "nonsense"), "cursor:"),
        (("--from", "+1d", "--to", "now"), "from must be before to"),
    ):
        done = cli(product.env, "list", *args)
        assert done.returncode == 1, (args, done)
        (line,) = done.stderr.splitlines()
        assert named in line and "(422)" in line, (args, line)
    usage = cli(product.env, "list", "--status", "done")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_relative_times() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert when("now", now) == "2030-01-01T12:00:00+00:00"
    assert when("+2h", now) == "2030-01-01T14:00:00+00:00"
    assert when("-30m", now) == "2030-01-01T11:30:00+00:00"
    assert when("+1d", now) == "2030-01-02T12:00:00+00:00"
    assert when("2030-01-01T00:00:00Z", now) == "2030-01-01T00:00:00Z"


def test_the_documented_list_commands_parse() -> None:
    """Every `hybrid-scheduler list ...` the README and the runbook show is a command line
    the parser takes as written."""
    import shlex
    from pathlib import Path

    from cli.main import build_parser

    root = Path(__file__).resolve().parent.parent
    found = []
    for doc in ("README.md", "docs/operations.md"):
        text = (root / doc).read_text()
        found += re.findall(r"^hybrid-scheduler (list [^|\n]*)", text, re.M)
    assert len(found) >= 5
    for command in found:
        try:
            build_parser().parse_args(shlex.split(command))
        except SystemExit:
            raise AssertionError(f"does not parse: hybrid-scheduler {command}") from None
