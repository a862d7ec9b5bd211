"""What kind of SQL statement a text is: the read-only check of `hybrid-scheduler sql` and
of the embedded engine's read-only endpoint (devstack.http_shim). No ClickHouse client
here, so the `sql` command can refuse a write before it imports anything heavy."""

from __future__ import annotations

import re

READ_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"})
_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/|\()*", re.S)


def statement_kind(sql: str) -> str:
    """The first keyword of `sql`, ignoring leading comments, blanks and parentheses."""
    words = _LEADING_NOISE.sub("", sql, count=1).split(None, 1)
    return words[0].upper().rstrip(";") if words else ""
