"""Retry delays (exponential backoff with equal jitter), and `Outage`: how a long-running
loop lives through a backing service (Redis, the broker, ClickHouse) going away.

A loop never stops for a failure it can outlive: it records the failure, waits the
delay `Outage.failed` gives, tries again, and calls `Outage.recovered` once a try works.
The log gets one warning when an outage starts (with the error) and one line when it
ends, never one per try, so a long outage does not flood it.
"""

from __future__ import annotations

import logging
import random
import time

from aiokafka.errors import KafkaError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from scheduler.errors import ServiceUnavailable

# Errors a service that is down or restarting gives: logged without a traceback. Anything
# else (a defect, most likely) gets its traceback in the outage's first warning.
_UNREACHABLE = (OSError, RedisConnectionError, RedisTimeoutError, KafkaError, ServiceUnavailable)


def retry_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (1-based): half fixed, half random."""
    exp: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    jitter: float = (rng or random).uniform(0, exp / 2)
    return exp / 2 + jitter


def describe(exc: BaseException, limit: int = 500) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Outage:
    """One loop's view of one kind of step failing (e.g. "executor: claiming due events").

        try:
            await step()
        except Exception as exc:
            await sleep(outage.failed(exc))   # a warning on the first failure only
        else:
            outage.recovered()                # one line when an outage ends

    Not a circuit breaker: the loop keeps trying, just less often. Steps that run
    concurrently (one per batch in flight) pass `started`, the time.monotonic() at which
    their try began: a try that began before the outage was declared and then worked, or
    began during it and failed after it ended, says nothing new, so the log does not flap.
    """

    def __init__(
        self, what: str, logger: logging.Logger, *, base: float = 0.1, cap: float = 2.0
    ) -> None:
        self.what = what
        self.log = logger
        self.base = base
        self.cap = cap
        self.failures = 0  # failed tries in the current outage
        self.outages = 0  # outages seen so far
        self._since = 0.0  # when the current outage was declared
        self._changed = 0.0  # when the last outage started or ended

    @property
    def down(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException, started: float | None = None) -> float:
        """Record a failed try; returns how long to wait before the next one."""
        now = time.monotonic()
        if not self.down and started is not None and started < self._changed:
            return retry_delay(1, self.base, self.cap)  # a straggler of the last outage
        self.failures += 1
        delay = retry_delay(self.failures, self.base, self.cap)
        if self.failures == 1:
            self.outages += 1
            self._since = self._changed = now
            self.log.warning(
                "%s failed (%s); retrying, and logging again only once it works",
                self.what,
                describe(exc),
                exc_info=not isinstance(exc, _UNREACHABLE),
            )
        else:
            self.log.debug("%s failed again (%s); retry in %.2fs", self.what, describe(exc), delay)
        return delay

    def recovered(self, started: float | None = None) -> None:
        """A try worked: ends the outage (and says so) if there was one."""
        if not self.down or (started is not None and started < self._changed):
            return
        now = time.monotonic()
        self.log.info(
            "%s works again, after %.1fs and %d failed tries",
            self.what,
            now - self._since,
            self.failures,
        )
        self.failures = 0
        self._changed = now
