"""The materialisation of recurring schedules as a Temporal activity.

`RecurringActivities` is built once per worker with the product's `RecurringSchedules`
and registered as bound methods. One run reconciles every definition, one at a time
(each bounded: at most 1,000 occurrences), heartbeating between them; it is idempotent
(occurrence ids are deterministic, and each definition's mark only moves forward), so a
retry after a crash stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.cold import _job
from activities.heartbeat import heartbeating
from scheduler.recurring.jobs import MaterializeInput, MaterializeResult
from scheduler.recurring.schedules import RecurringSchedules


class RecurringActivities:
    def __init__(self, recurring: RecurringSchedules) -> None:
        self.recurring = recurring

    @activity.defn(name="materialize_recurring")
    async def materialize(self, input: MaterializeInput) -> MaterializeResult:
        with _job("recurring"):
            async with heartbeating() as hb:
                return await self.recurring.materialize_all(
                    lambda r: hb.beat(r.definitions, r.materialized)
                )

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for Worker(activities=...)."""
        return [self.materialize]
