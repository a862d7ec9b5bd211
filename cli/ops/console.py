"""Where the operator commands write: tables on stdout, errors and spinners on stderr."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


def _width(stream: Any) -> int | None:
    """Rich's own choice on a terminal (or with COLUMNS set); into a pipe or a file, room
    enough that no table cell is cut."""
    return None if stream.isatty() or os.environ.get("COLUMNS") else 240


out = Console(highlight=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def fail(message: str) -> None:
    """`hybrid-scheduler: <message>` on stderr, as one line."""
    err.print(f"hybrid-scheduler: {message}", markup=False, soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def spinner(text: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """A spinner (with a bar when there are `total` steps) and the elapsed time on stderr
    while the block runs; shown on a terminal only, gone when the block ends. Yields
    `step(text)`: one step done, the next described by `text`."""
    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    progress = Progress(*columns, TimeElapsedColumn(), console=err, transient=True)
    with progress:
        task = progress.add_task(text, total=total)

        def step(text: str) -> None:
            progress.update(task, advance=1, description=text)

        yield step


def show(title: str, table: Table) -> None:
    """A title line (never wrapped to the table's width), then the table."""
    out.print(title, markup=False, soft_wrap=True)
    out.print(table)
