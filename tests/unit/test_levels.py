"""The runbook's queue depth levels (scheduler.levels)."""

from __future__ import annotations

import pytest

from scheduler.levels import QUEUE_DEPTHS, Band, grade, queue_levels


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (0, "normal"),
        (9, "normal"),
        (10, "warning"),  # the lower bound is in the band
        (50, "warning"),
        (100, "warning"),  # so is the upper one
        (101, "critical"),
        (None, None),
    ],
)
def test_grade_at_the_bounds(depth: int | None, expected: str | None) -> None:
    assert grade(depth, Band(normal_below=10, critical_above=100)) == expected


def test_the_runbook_thresholds() -> None:
    assert QUEUE_DEPTHS["redis_pending"] == Band(10_000, 100_000)
    assert QUEUE_DEPTHS["pending"] == Band(100_000, 1_000_000)
    redis, cold = QUEUE_DEPTHS["redis_pending"], QUEUE_DEPTHS["pending"]
    assert [grade(n, redis) for n in (9_999, 60_000, 100_001)] == [
        "normal",
        "warning",
        "critical",
    ]
    assert [grade(n, cold) for n in (99_999, 500_000, 1_000_001)] == [
        "normal",
        "warning",
        "critical",
    ]


def test_queue_levels_grades_each_depth_of_the_stats() -> None:
    stats = {"redis_pending": 20_000, "pending": 2_000_000, "in_flight": 10**9}
    assert queue_levels(stats) == {"redis_pending": "warning", "pending": "critical"}


def test_an_unknown_depth_has_no_level() -> None:
    # pending is None while ClickHouse is unreachable
    assert queue_levels({"redis_pending": 0, "pending": None}) == {
        "redis_pending": "normal",
        "pending": None,
    }
    assert queue_levels({}) == {"redis_pending": None, "pending": None}
