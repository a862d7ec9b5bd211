"""The `recurring` role: materialises the recurring schedules' occurrences on a timer, in
this process, for deployments without the Temporal worker (which runs the same job as
the Temporal Schedule `schedules-recurring`; the two are never run together). Every
SCHEDULES_RECURRING_INTERVAL, first at start; a failed run (Redis away) is logged once
and tried again next interval. Runs in several processes only repeat work: each
definition is reconciled under its lock, and its occurrences' ids are deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from scheduler.hot.backoff import Outage
from scheduler.recurring.schedules import RecurringSchedules

log = logging.getLogger(__name__)


class RecurringLoop:
    def __init__(self, recurring: RecurringSchedules, *, interval: float) -> None:
        self.recurring = recurring
        self.interval = interval
        self.runs = 0
        self._stopping = asyncio.Event()
        self.outage = Outage("recurring role: materialising", log)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.recurring.materialize_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.outage.failed(exc)
            else:
                self.outage.recovered()
            self.runs += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
