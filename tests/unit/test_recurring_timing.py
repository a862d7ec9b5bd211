"""When recurring schedules fire (scheduler/recurring/timing.py and occurrences.plan):
cron in a time zone across DST transitions, intervals, start/end bounds, jitter, ids,
catch-up. Pure logic: times are given, no clock is read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.errors import InvalidEvent
from scheduler.models import SCHEDULE_ID_RE
from scheduler.recurring.model import RecurringDefinition, RecurringRequest, parse_recurring
from scheduler.recurring.occurrences import plan, preview
from scheduler.recurring.timing import (
    jitter,
    occurrence_id,
    parse_occurrence_id,
    times_after,
    times_before,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def req(**fields: Any) -> RecurringRequest:
    return parse_recurring({"recurring_id": "r", "event": {"topic": "t", "body": "x"}} | fields)


def ts(*args: int, tz: ZoneInfo | None = None, fold: int = 0) -> int:
    return int(datetime(*args, tzinfo=tz or UTC, fold=fold).timestamp())  # type: ignore[misc]


def local(t: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M %Z")


def next_local(r: RecurringRequest, after: int, n: int, tz: ZoneInfo) -> list[str]:
    return [local(t, tz) for t in times_after(r, 0, after, 2**40, n)]


# --- DST: a wall-clock time that does not exist, and one that exists twice ---------------


def test_berlin_spring_forward_daily_at_a_missing_time_fires_once_at_the_transition() -> None:
    r = req(cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist that night.
    got = next_local(r, ts(2026, 3, 27, 12, tz=BERLIN), 4, BERLIN)
    assert got == [
        "2026-03-28 02:30 CET",
        "2026-03-29 03:00 CEST",  # the first valid instant after 02:30
        "2026-03-30 02:30 CEST",
        "2026-03-31 02:30 CEST",
    ]


def test_berlin_fall_back_daily_at_a_repeated_time_fires_once_the_first() -> None:
    r = req(cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice.
    times = times_after(r, 0, ts(2026, 10, 24, 12, tz=BERLIN), 2**40, 3)
    assert [local(t, BERLIN) for t in times] == [
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
        "2026-10-27 02:30 CET",
    ]
    # Starting in the second 02:30 hour does not fire it again.
    second = ts(2026, 10, 25, 2, 10, tz=BERLIN, fold=1)
    assert next_local(r, second, 1, BERLIN) == ["2026-10-26 02:30 CET"]


def test_berlin_hourly_across_both_transitions() -> None:
    r = req(cron="30 * * * *", timezone="Europe/Berlin")
    spring = next_local(r, ts(2026, 3, 29, 0, 45, tz=BERLIN), 3, BERLIN)
    assert spring == ["2026-03-29 01:30 CET", "2026-03-29 03:00 CEST", "2026-03-29 03:30 CEST"]
    fall = next_local(r, ts(2026, 10, 25, 1, 45, tz=BERLIN), 3, BERLIN)
    assert fall == ["2026-10-25 02:30 CEST", "2026-10-25 03:30 CET", "2026-10-25 04:30 CET"]


def test_several_missing_times_fire_once() -> None:
    r = req(cron="*/15 2 * * *", timezone="Europe/Berlin")
    got = next_local(r, ts(2026, 3, 29, 0, tz=BERLIN), 2, BERLIN)
    assert got == ["2026-03-29 03:00 CEST", "2026-03-30 02:00 CEST"]


def test_new_york_transitions_weekly() -> None:
    # Sundays at 02:30: 2026-03-08 (02:00 EST -> 03:00 EDT), 2026-11-01 (02:00 EDT -> 01:00 EST).
    r = req(cron="30 2 * * 0", timezone="America/New_York")
    spring = next_local(r, ts(2026, 3, 2, tz=NEW_YORK), 3, NEW_YORK)
    assert spring == ["2026-03-08 03:00 EDT", "2026-03-15 02:30 EDT", "2026-03-22 02:30 EDT"]
    r = req(cron="30 1 * * 0", timezone="America/New_York")  # 01:30 is repeated
    fall = next_local(r, ts(2026, 10, 26, tz=NEW_YORK), 3, NEW_YORK)
    assert fall == ["2026-11-01 01:30 EDT", "2026-11-08 01:30 EST", "2026-11-15 01:30 EST"]


def test_new_york_daily_keeps_local_time_across_the_change() -> None:
    r = req(cron="0 9 * * *", timezone="America/New_York")
    times = times_after(r, 0, ts(2026, 3, 7, tz=NEW_YORK), 2**40, 2)
    assert [local(t, NEW_YORK) for t in times] == ["2026-03-07 09:00 EST", "2026-03-08 09:00 EDT"]
    assert times[1] - times[0] == 23 * 3600  # the short day


def test_missed_occurrences_are_found_backwards_across_dst() -> None:
    r = req(cron="30 2 * * *", timezone="Europe/Berlin")
    before = times_before(r, 0, 0, ts(2026, 3, 31, tz=BERLIN), 3)
    assert [local(t, BERLIN) for t in before] == [
        "2026-03-30 02:30 CEST",
        "2026-03-29 03:00 CEST",
        "2026-03-28 02:30 CET",
    ]


def test_weekday_cron_in_utc() -> None:
    r = req(cron="0 9 * * 1-5")
    got = next_local(r, ts(2026, 12, 4, 10), 3, ZoneInfo("UTC"))  # a Friday, after 09:00
    assert got == ["2026-12-07 09:00 UTC", "2026-12-08 09:00 UTC", "2026-12-09 09:00 UTC"]


# --- intervals and bounds ----------------------------------------------------------------


def test_interval_counts_from_the_anchor_and_ignores_dst() -> None:
    r = req(interval_seconds=3600, timezone="Europe/Berlin")
    anchor = ts(2026, 3, 29, 0, 15)
    got = times_after(r, anchor, anchor, anchor + 4 * 3600, 10)
    assert got == [anchor + k * 3600 for k in range(1, 5)]
    assert times_before(r, anchor, anchor, anchor + 3 * 3600 + 1, 10) == [
        anchor + 3 * 3600,
        anchor + 2 * 3600,
        anchor + 3600,
    ]


def test_interval_from_start_at_and_until_end_at() -> None:
    start = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
    end = datetime(2026, 12, 1, 10, 0, 50, tzinfo=UTC)
    r = req(interval_seconds=20, start_at=start.isoformat(), end_at=end.isoformat())
    s = int(start.timestamp())
    # The first occurrence is start_at itself; nothing after end_at.
    assert times_after(r, 0, s - 100, 2**40, 10) == [s, s + 20, s + 40]
    assert times_after(r, 0, s + 5, 2**40, 10) == [s + 20, s + 40]


def test_cron_respects_start_and_end() -> None:
    r = req(
        cron="0 * * * *",
        start_at="2026-12-01T10:30:00Z",
        end_at="2026-12-01T13:00:00Z",
    )
    got = times_after(r, 0, ts(2026, 12, 1), 2**40, 10)
    assert got == [ts(2026, 12, 1, 11), ts(2026, 12, 1, 12), ts(2026, 12, 1, 13)]


def test_limit_and_until_bound_the_scan() -> None:
    r = req(cron="* * * * *")
    t0 = ts(2026, 12, 1)
    assert len(times_after(r, 0, t0, 2**40, 5)) == 5
    assert times_after(r, 0, t0, t0 + 120, 100) == [t0 + 60, t0 + 120]


# --- ids, jitter, catch-up -----------------------------------------------------------------


def test_occurrence_ids_are_schedule_ids_and_parse_back() -> None:
    sid = occurrence_id("x" * 64, 123456, 253402300799)
    assert SCHEDULE_ID_RE.fullmatch(sid) and len(sid) <= 128
    assert parse_occurrence_id(sid) == ("x" * 64, 123456, 253402300799)
    assert parse_occurrence_id("plain-id") is None


def test_jitter_is_fixed_per_occurrence_and_bounded() -> None:
    values = [jitter("r", 1_800_000_000 + i, 30) for i in range(200)]
    assert values == [jitter("r", 1_800_000_000 + i, 30) for i in range(200)]
    assert all(0 <= v < 30 for v in values) and len(set(values)) > 150
    assert jitter("r", 1_800_000_000, 0) == 0


def definition(**fields: Any) -> RecurringDefinition:
    r = req(**fields)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return RecurringDefinition(
        **r.model_dump(), version=1, generation=3, created_at=at, updated_at=at
    )


@pytest.mark.parametrize(("policy", "expected_missed"), [("skip", 0), ("latest", 1), ("all", 5)])
def test_catch_up_policies(policy: str, expected_missed: int) -> None:
    d = definition(interval_seconds=60, catch_up=policy, catch_up_limit=5)
    anchor = int(d.created_at.timestamp())
    now = anchor + 10 * 60 + 30.5  # 10 occurrences missed since the anchor
    p = plan(d, anchor, now, window_seconds=300)
    missed = [o for o in p.occurrences if o.nominal <= now]
    assert len(missed) == expected_missed
    assert all(o.at == now for o in missed)  # caught up at once
    if missed:
        assert missed[-1].nominal == anchor + 600  # the latest missed ones
    ahead = [o for o in p.occurrences if o.nominal > now]
    assert [o.nominal for o in ahead] == [anchor + 60 * k for k in range(11, 16)]
    assert p.until == int(now + 300)
    assert all(o.schedule_id == f"r@3@{o.nominal}" for o in p.occurrences)


def test_plan_is_the_same_when_run_again_and_keeps_jitter_in_the_window() -> None:
    d = definition(interval_seconds=10, jitter_seconds=5)
    anchor = int(d.created_at.timestamp())
    first = plan(d, anchor, anchor + 0.5, window_seconds=60)
    assert first == plan(d, anchor, anchor + 0.5, window_seconds=60)
    assert all(o.at <= anchor + 60.5 for o in first.occurrences)
    assert plan(d, first.until, anchor + 0.6, window_seconds=60).occurrences == []


def test_preview_lists_the_next_occurrences() -> None:
    d = definition(cron="0 12 * * *", timezone="Europe/Berlin")
    got = preview(d, ts(2026, 12, 1), 2)
    assert [local(o.nominal, BERLIN) for o in got] == [
        "2026-12-01 12:00 CET",
        "2026-12-02 12:00 CET",
    ]


# --- what a definition may be ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "interval_seconds"),
        ({"cron": "0 * * * *", "interval_seconds": 5}, "interval_seconds"),
        ({"cron": "0 * * *"}, "cron"),
        ({"cron": "0 0 * * * *"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"interval_seconds": 5, "timezone": "Mars/Olympus"}, "timezone"),
        ({"interval_seconds": 5, "timezone": "../../etc/passwd"}, "timezone"),
        ({"interval_seconds": 5, "recurring_id": "a@b"}, "recurring_id"),
        ({"interval_seconds": 5, "recurring_id": "x" * 65}, "recurring_id"),
        ({"interval_seconds": 5, "start_at": "2026-01-01T00:00:00"}, "start_at"),
        (
            {
                "interval_seconds": 5,
                "start_at": "2026-01-02T00:00:00Z",
                "end_at": "2026-01-01T00:00:00Z",
            },
            "end_at",
        ),
        ({"interval_seconds": 5, "catch_up": "sometimes"}, "catch_up"),
        ({"interval_seconds": 5, "event": {"topic": "t"}}, "event.body"),
        (
            {"interval_seconds": 5, "event": {"topic": "t", "body": "x", "delay_seconds": 1}},
            "event.delay_seconds",
        ),
    ],
)
def test_bad_definitions_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent) as exc:
        req(**fields)
    assert exc.value.field == field, str(exc.value)
