"""Retry delays (scheduler/hot/backoff.py): exponential, capped, equal jitter."""

from __future__ import annotations

import random

import pytest

from scheduler.hot.backoff import retry_delay


class Extreme(random.Random):
    """uniform() always at one end of its range."""

    def __init__(self, high: bool) -> None:
        super().__init__()
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


LOW, HIGH = Extreme(high=False), Extreme(high=True)


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0)]
)
def test_the_ceiling_doubles_with_each_attempt(attempt: int, expected: float) -> None:
    assert retry_delay(attempt, base=1.0, cap=300.0, rng=HIGH) == expected
    assert retry_delay(attempt, base=1.0, cap=300.0, rng=LOW) == expected / 2


def test_half_of_the_delay_is_fixed_half_random() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        exp = min(30.0, 0.5 * 2 ** (attempt - 1))
        delays = [retry_delay(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(exp / 2 <= d <= exp for d in delays), attempt
        assert len(set(delays)) > 150  # jittered: retries of one batch spread out


def test_never_beyond_the_cap_however_many_attempts() -> None:
    for attempt in (10, 11, 50, 100):  # SCHEDULES_MAX_ATTEMPTS is at most 100
        assert retry_delay(attempt, base=1.0, cap=300.0, rng=HIGH) == 300.0
        assert retry_delay(attempt, base=1.0, cap=300.0, rng=LOW) == 150.0


def test_first_attempt_and_below_start_at_base() -> None:
    for attempt in (-3, 0, 1):
        assert retry_delay(attempt, base=0.2, cap=5.0, rng=HIGH) == 0.2


def test_a_seeded_rng_gives_the_same_delays() -> None:
    a = [retry_delay(n, 1.0, 60.0, random.Random(42)) for n in range(1, 8)]
    b = [retry_delay(n, 1.0, 60.0, random.Random(42)) for n in range(1, 8)]
    assert a == b
    assert a != [retry_delay(n, 1.0, 60.0, random.Random(43)) for n in range(1, 8)]
