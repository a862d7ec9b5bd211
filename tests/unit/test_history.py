"""How scheduler.history composes a status history from the stored rows (pure logic; the
real services' version is tests/api/test_history.py)."""

from __future__ import annotations

from scheduler.cold.records import Schedule, Status, Tier
from scheduler.history import _row_entries
from scheduler.models import Event

T0 = 1_800_000_000.0  # created
US = 1_000_000


def ev(due: float) -> Event:
    return Event(schedule_id="h", topic="t", body=b"", scheduled_at=due, created_at=T0)


def kinds(rows: list[Schedule], held: tuple[int, str] | None = None) -> list[str]:
    past, now = _row_entries(rows, held)
    return [e.kind for e in past + now]


def test_created_cold_then_moved_into_redis_by_a_sync() -> None:
    due = T0 + 3600
    waiting = Schedule(ev(due), Status.PENDING, Tier.COLD, updated_us=int(T0 * US))
    assert kinds([waiting]) == ["created", "pending"]
    # The sync's version replaced it: in the hot tier, carrying the claim's time.
    moved = Schedule(
        ev(due),
        Status.TRANSFERRED,
        Tier.HOT,
        processing_started_us=int((T0 + 60) * US),
        updated_us=int((T0 + 61) * US),
    )
    past, now = _row_entries([moved], (int(due * US), "pending"))
    assert [e.kind for e in past] == ["created", "transferred"]
    assert "created in the cold tier" in past[0].detail
    assert [(e.kind, e.detail) for e in now] == [("scheduled", "waiting in Redis (pending)")]


def test_created_straight_into_redis() -> None:
    due = T0 + 60
    row = Schedule(ev(due), Status.TRANSFERRED, Tier.HOT, updated_us=int(T0 * US))
    past, now = _row_entries([row], (int(due * US), "pending"))
    assert [e.kind for e in past + now] == ["created", "scheduled"]
    assert "created in the hot tier" in past[0].detail


def test_a_reschedule_is_one_entry_and_the_new_row_is_the_current_state() -> None:
    old = Schedule(
        ev(T0 + 3600),
        Status.CANCELLED,
        Tier.COLD,
        error="rescheduled to 2027-01-15T09:00:00+00:00",
        updated_us=int((T0 + 10) * US),
    )
    new = Schedule(ev(T0 + 7200), Status.PENDING, Tier.COLD, updated_us=int((T0 + 10) * US))
    past, now = _row_entries([new, old], None)
    assert [e.kind for e in past] == ["created", "rescheduled"]
    assert "created in the cold tier" in past[0].detail
    assert [e.kind for e in now] == ["pending"]


def test_a_plain_cancel_is_the_final_state_not_a_reschedule() -> None:
    gone = Schedule(ev(T0 + 60), Status.CANCELLED, Tier.HOT, updated_us=int((T0 + 5) * US))
    assert kinds([gone]) == ["created", "cancelled"]


def test_only_the_row_redis_holds_gets_its_hot_state() -> None:
    due = T0 + 60
    row = Schedule(ev(due), Status.TRANSFERRED, Tier.HOT, updated_us=int(T0 * US))
    other = (int(due * US) + 1, "held")
    assert kinds([row], held=other) == ["created"]
    _, now = _row_entries([row], (int(due * US), "held"))
    assert now[0].detail == "waiting in Redis (held)"
