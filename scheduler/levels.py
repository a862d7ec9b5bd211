"""The runbook's grading of the queue depths: `normal` below a band, `critical` above
it, `warning` within it (bounds included). `GET .../monitoring/stats` reports it as
`levels`; deploy/prometheus/alerts.yml alerts on the same numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Level = Literal["normal", "warning", "critical"]


@dataclass(frozen=True)
class Band:
    """The warning band: from `normal_below` up to and including `critical_above`."""

    normal_below: int
    critical_above: int


# By the field of the stats that holds the depth: Redis (the hot tier), ClickHouse (cold).
QUEUE_DEPTHS: Mapping[str, Band] = {
    "redis_pending": Band(normal_below=10_000, critical_above=100_000),
    "pending": Band(normal_below=100_000, critical_above=1_000_000),
}


def grade(depth: int | None, band: Band) -> Level | None:
    """None for an unknown depth (ClickHouse unreachable)."""
    if depth is None:
        return None
    if depth < band.normal_below:
        return "normal"
    return "critical" if depth > band.critical_above else "warning"


def queue_levels(stats: Mapping[str, Any]) -> dict[str, Level | None]:
    """Each queue depth of `stats` (SchedulerService.get_stats()) graded; one it lacks is
    unknown."""
    return {name: grade(stats.get(name), band) for name, band in QUEUE_DEPTHS.items()}
