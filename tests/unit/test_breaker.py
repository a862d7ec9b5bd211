"""The producer's circuit breaker (scheduler/hot/breaker.py) on an injected clock."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from scheduler.hot.breaker import CircuitBreaker, State
from unit.fakes import FakeClock


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(threshold=3, reset_seconds=10.0, clock=clock)


def gauge() -> float | None:
    """The exported breaker state (schedules_circuit_breaker_state)."""
    return REGISTRY.get_sample_value("schedules_circuit_breaker_state")


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is State.CLOSED and breaker.opened_total == 0
    breaker.record_failure()
    assert breaker.state is State.OPEN
    assert breaker.opened_total == 1
    assert gauge() == State.OPEN == 2


def test_each_opening_is_counted_for_prometheus(breaker: CircuitBreaker) -> None:
    name = "schedules_circuit_breaker_opened_total"
    before = REGISTRY.get_sample_value(name) or 0.0
    for _ in range(5):  # failures while open do not open it again
        breaker.record_failure()
    assert REGISTRY.get_sample_value(name) == before + 1


def test_a_success_resets_the_count_of_consecutive_failures(breaker: CircuitBreaker) -> None:
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is State.CLOSED  # 2 + 2 failures, never 3 in a row
    breaker.record_failure()
    assert breaker.state is State.OPEN


def test_open_waits_out_reset_seconds_then_half_opens(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(3):
        breaker.record_failure()
    assert breaker.wait_seconds() == pytest.approx(10.0)
    clock.advance(4.0)
    assert breaker.state is State.OPEN
    assert breaker.wait_seconds() == pytest.approx(6.0)
    clock.advance(5.999)
    assert breaker.state is State.OPEN
    clock.advance(0.001)
    assert breaker.state is State.HALF_OPEN
    assert breaker.wait_seconds() == 0.0
    assert gauge() == State.HALF_OPEN == 1


def test_a_closed_breaker_never_waits(breaker: CircuitBreaker) -> None:
    assert breaker.state is State.CLOSED
    assert breaker.wait_seconds() == 0.0


def test_a_failed_probe_reopens_at_once_for_a_full_period(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.advance(10.0)
    assert breaker.state is State.HALF_OPEN
    breaker.record_failure()  # one failure is enough while half-open
    assert breaker.state is State.OPEN
    assert breaker.opened_total == 2
    assert breaker.wait_seconds() == pytest.approx(10.0)  # counted from the probe, not before


def test_a_successful_probe_closes(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.advance(10.0)
    assert breaker.state is State.HALF_OPEN
    breaker.record_success()
    assert breaker.state is State.CLOSED
    assert gauge() == State.CLOSED == 0
    # Closed again means a fresh count: one failure does not re-open it.
    breaker.record_failure()
    assert breaker.state is State.CLOSED


def test_failures_while_open_extend_the_pause_but_count_one_opening(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    """Batches already in flight when the breaker opened fail too: the pause runs from
    the last of them, and opened_total counts openings, not failures."""
    for _ in range(3):
        breaker.record_failure()
    clock.advance(8.0)
    breaker.record_failure()
    assert breaker.opened_total == 1
    clock.advance(8.0)  # 16 s after opening, 8 s after the last failure
    assert breaker.state is State.OPEN
    assert breaker.wait_seconds() == pytest.approx(2.0)
