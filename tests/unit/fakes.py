"""Stand-ins for the unit layer: a clock that moves only when told to, events."""

from __future__ import annotations

from typing import Any

from scheduler.models import Event


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_event(sid: str = "s-1", at: float = 1_700_000_000.123456, **kw: Any) -> Event:
    """An event with every field set to something other than its default."""
    values: dict[str, Any] = {
        "schedule_id": sid,
        "topic": "user.notifications",
        "body": b'{"user_id": 123}\x00\xff',
        "scheduled_at": at,
        "entity_type": "user",
        "action": "send_reminder",
        "correlation_id": "corr-9",
        "headers": {"priority": "high", "trace": "h\u00e9"},
        "max_delay_seconds": 600,
        "priority": -7,
        "created_at": 1_699_999_000.5,
    }
    values.update(kw)
    return Event(**values)
