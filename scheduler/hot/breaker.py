"""A circuit breaker around the producer: stop claiming while the broker is down.

Closed: claim normally. After `threshold` consecutive batches that delivered nothing
because the broker was unreachable, open: claim nothing (events wait in Redis) for
`reset_seconds`. Then half-open: one small probe batch; success closes, failure re-opens.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from scheduler import metrics

log = logging.getLogger(__name__)


class State(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._state = State.CLOSED
        self.opened_total = 0

    @property
    def state(self) -> State:
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.reset_seconds:
            self._set(State.HALF_OPEN)
        return self._state

    def wait_seconds(self) -> float:
        """How long until a probe may run (0 unless open)."""
        if self.state is not State.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_seconds - self._clock())

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not State.CLOSED:
            log.info("circuit breaker closed: the broker is accepting events again")
            self._set(State.CLOSED)

    def record_failure(self) -> None:
        self._failures += 1
        if self._state is State.HALF_OPEN or self._failures >= self.threshold:
            if self._state is not State.OPEN:
                log.warning(
                    "circuit breaker opened after %d failed batches: pausing claims for %.1fs",
                    self._failures,
                    self.reset_seconds,
                )
                self.opened_total += 1
                metrics.BREAKER_OPENED.inc()
            self._opened_at = self._clock()
            self._set(State.OPEN)

    def _set(self, state: State) -> None:
        self._state = state
        metrics.BREAKER_STATE.set(int(state))
