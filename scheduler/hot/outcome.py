"""What happened to one claimed event: the executor's report, which the journal turns
into ClickHouse rows and the benchmark into figures."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from scheduler.models import Event


class OutcomeStatus(enum.StrEnum):
    """The executor's decision for one event. The values are the metric label values
    (schedules_events_executed_total{outcome=...}) and what logs show."""

    SUCCESS = "success"  # the broker acknowledged it
    RETRY = "retry"  # sending failed; back to pending, to be tried again after a backoff
    DEAD_LETTER = "dead_letter"  # failed for good; on the dead-letter topic
    SKIPPED = "skipped"  # later than its max_delay_seconds: not sent


@dataclass(slots=True)
class Outcome:
    """What happened to one claimed event; fed to analytics and the benchmark."""

    event: Event
    status: OutcomeStatus
    executed_at: float  # broker ack time for success, else decision time
    attempt: int  # 1-based delivery attempt
    error: str | None = None
    node_id: str = ""
    claimed_at: float | None = None  # when its batch was claimed (processing time = ack - this)
    # The send failed because the broker did not answer in time (decided from the
    # exception's class, scheduler.kafka.is_timeout), as opposed to answering with an error.
    timed_out: bool = False


OutcomeHandler = Callable[[list[Outcome]], Awaitable[None]]
