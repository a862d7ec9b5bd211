"""The product's ClickHouse queries, by name: queries.sql, loaded once into QUERIES.

Only the cold tier's store (scheduler.cold.store.ColdStore) and the transport's own
connection checks (scheduler.cold.clickhouse) send them.
"""

from __future__ import annotations

import re
from importlib import resources
from string import Template

_NAME = re.compile(r"^-- name: (\w+)\s*$")


def load_queries(text: str) -> dict[str, str]:
    """The named blocks of a queries file (see queries.sql): comment lines dropped,
    `$piece` references replaced by the block of that name defined above."""
    raw: dict[str, list[str]] = {}
    lines: list[str] | None = None
    for line in text.splitlines():
        named = _NAME.match(line)
        if named:
            if named[1] in raw:
                raise ValueError(f"query {named[1]!r} is defined twice")
            lines = raw[named[1]] = []
        elif lines is not None and not line.lstrip().startswith("--"):
            lines.append(line)
    queries: dict[str, str] = {}
    for name, body in raw.items():
        try:
            queries[name] = Template("\n".join(body).strip()).substitute(queries)
        except KeyError as exc:
            raise ValueError(f"query {name!r} uses ${exc.args[0]}, not defined above it") from None
    return queries


QUERIES = load_queries(
    resources.files("scheduler.cold").joinpath("queries.sql").read_text(encoding="utf-8")
)
