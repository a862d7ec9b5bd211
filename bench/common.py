"""What the benchmark scenarios share: the event they use and percentile maths."""

from __future__ import annotations

import math
import os

from scheduler.models import Event, new_schedule_id

# A 400-byte JSON body, as the memory target specifies.
_HEAD = b'{"user_id": 123456, "message": "'
BODY = _HEAD + b"x" * (400 - len(_HEAD) - 2) + b'"}'
assert len(BODY) == 400


def make_event(topic: str, at: float) -> Event:
    """A typical event: generated id, short names, a correlation id and one header."""
    return Event(
        schedule_id=new_schedule_id(),
        topic=topic,
        body=BODY,
        scheduled_at=at,
        entity_type="user",
        action="send_reminder",
        correlation_id=f"reminder-{os.urandom(6).hex()}",
        headers={"source": "bench"},
        created_at=at,
    )


def percentiles(
    values: list[float], ps: tuple[float, ...] = (50, 90, 99, 99.9)
) -> dict[str, float]:
    """Nearest-rank percentiles, plus max; empty input gives an empty dict."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for p in ps:
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        out[f"p{p:g}"] = ordered[rank - 1]
    out["max"] = ordered[-1]
    return out
