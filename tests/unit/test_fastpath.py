"""scheduler.fastpath gives every input exactly the answer of the model (ScheduleRequest,
then to_event): the same Event, or InvalidEvent with the same message and field. Its
plain checks take the common valid shapes (so it is the path really taken), and any
input they cannot vouch for goes to the model."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.errors import InvalidEvent
from scheduler.fastpath import FIELDS, fast_event, request_event
from scheduler.models import INT32, OnConflict, parse_request, to_event
from unit.fakes import limits

NOW = 1_900_000_000.25
LIMITS = limits(max_body_bytes=2_000, max_headers=5, max_header_bytes=200)
MISSING = object()  # the field is left out


class NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    pass


class Choice(enum.StrEnum):
    KEEP = "keep"


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


STRINGS = ["", "a", "é", "\ud800", "a\n", " ", "\x00", Text("a"), b"a", 1, None, True]
# Per field: valid and hostile values (types, bounds, NaN, surrogates, subclasses, ...).
VALUES: dict[str, list[Any]] = {
    "topic": [
        "user.notifications", ".", "..", "...", "a" * 249, "a" * 250, "a b", "t\n", "ü",
        Text("t"), ["t"], *STRINGS,
    ],
    "body": [
        "", "x", "\ud800", "x" * 2_000, "x" * 2_001, "é" * 1_000, {}, {"a": 1},
        {"a": float("nan")}, {"a": float("inf")}, {"a": 2**64}, {"a": -(2**63) - 1},
        {"a": 2**63 - 1}, {1: "a"}, {Text("k"): 1}, {"a": "\udc00"}, {"\ud800": 1}, [],
        [1, 2.5, None, True], [float("-inf")], (1, 2), {1, 2}, _nest(250), _nest(300),
        {"a": {"b": [1, {"c": "é"}]}}, 1, 1.5, None, True, b"x", Text("x"),
    ],
    "entity_type": ["user", "a" * 255, "a" * 256, "é" * 255, "é" * 256, *STRINGS],
    "action": ["send_reminder", "a" * 255, "a" * 256, *STRINGS],
    "correlation_id": ["reminder-1", "a" * 255, "a" * 256, *STRINGS],
    "schedule_id": [
        "reminder-123", "a:b@c.d_e-f", "a" * 128, "a" * 129, "a b", "x\n", "é", "a/b",
        *STRINGS,
    ],
    "delay_seconds": [
        0, 0.0, -0.0, -1, -0.5, 1.5, 10, 3600, 2**53, 2**53 + 1, 2**60, 10**400, 1e300,
        253402300799.0, float("nan"), float("inf"), float("-inf"), True, False, "10", "1e3",
        b"1", None, Number(5), Real(5.0), [1], {"a": 1},
    ],
    "scheduled_at": [
        "2030-01-01T09:00:00Z", "2030-01-01T09:00:00.123456+05:30", "2030-01-01T09:00:00",
        "2030-01-01", "2030-01-01T09:00:00 Z", "1700000000", "1.5e9", "-5", "garbage", "",
        "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "2030-02-30T00:00:00Z",
        datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=-3))),  # noqa: E501
        datetime(2030, 1, 1), datetime(2030, 1, 1, tzinfo=NoOffset()), date(2030, 1, 1),
        1700000000, 1.7e9, True, None, b"2030-01-01T09:00:00Z",
    ],
    "headers": [
        {}, {"source": "bench"}, {"é": "ü"}, {"a": "\ud800"}, {"\udc00": "a"}, {"a": 1},
        {1: "a"}, {"a": None}, {"schedule_id": "x"}, {"attempt": "1"}, {"a": "b" * 300},
        {str(i): "v" for i in range(6)}, {Text("a"): "b"}, {"a": Text("b")}, None, [],
        [("a", "b")], "a=b",
    ],
    "priority": [
        0, 5, -INT32, INT32, INT32 + 1, -INT32 - 1, 2**100, True, False, 1.0, 1.5, "1",
        None, Number(1), float("nan"),
    ],
    "max_delay_seconds": [
        None, 0, 600, INT32, INT32 + 1, -1, 5.0, 5.5, True, "5", Number(5), float("inf"),
    ],
    "on_conflict": [
        "keep", "replace", OnConflict.KEEP, OnConflict.REPLACE, "KEEP", "Replace", "x", "",
        None, 1, ["keep"], Choice.KEEP, Text("keep"),
    ],
}  # fmt: skip
BASE: dict[str, Any] = {
    "topic": "user.notifications",
    "body": "x" * 400,
    "entity_type": "user",
    "action": "send_reminder",
    "delay_seconds": 3600,
    "correlation_id": "reminder-1",
    "headers": {"source": "bench"},
}


def model_answer(data: Any) -> tuple[Any, ...]:
    """What the model says: the event (generated id blanked) and replace, or the error."""
    try:
        req = parse_request(data)
        ev = to_event(req, LIMITS, NOW)
    except InvalidEvent as exc:
        return ("invalid", str(exc), exc.field)
    return ("event", _comparable(ev, data), req.on_conflict is OnConflict.REPLACE)


def fast_answer(data: Any) -> tuple[Any, ...]:
    try:
        ev, replace = request_event(data, LIMITS, NOW)
    except InvalidEvent as exc:
        return ("invalid", str(exc), exc.field)
    return ("event", _comparable(ev, data), replace)


def _comparable(ev: Any, data: Any) -> Any:
    generated = not (isinstance(data, dict) and data.get("schedule_id"))
    if generated:
        assert len(ev.schedule_id) == 26
    # repr: NaN != NaN, and -0.0 == 0.0 would hide a difference.
    return repr(dataclasses.replace(ev, schedule_id="") if generated else ev)


def check(data: Any) -> None:
    assert fast_answer(data) == model_answer(data), data
    try:
        found = fast_event(data, LIMITS, NOW)
    except InvalidEvent:  # what only the limits tell: the model's fields all passed
        assert model_answer(data)[0] == "invalid"
        assert parse_request(data) is not None
        return
    if found is not None:  # the fast path vouched for it: the model accepts it too
        assert model_answer(data) == ("event", _comparable(found[0], data), found[1])


def test_the_table_covers_every_field() -> None:
    assert set(VALUES) == FIELDS


@pytest.mark.parametrize("field", sorted(VALUES))
def test_each_hostile_value_gets_the_models_answer(field: str) -> None:
    for value in [*VALUES[field], MISSING]:
        data = dict(BASE)
        if value is MISSING:
            data.pop(field, None)
        else:
            data[field] = value
        if field == "scheduled_at" and value is not MISSING:
            # Also in place of delay_seconds, which is what a valid one needs.
            check(data)
            data.pop("delay_seconds")
        check(data)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"topic": "t"},
        {"body": "x", "delay_seconds": 1},
        {**BASE, "unknown": 1},
        {**BASE, 1: 2},
        {**BASE, "scheduled_at": None},
        {**BASE, "delay_seconds": None, "scheduled_at": None},
        {**BASE, "delay_seconds": None, "scheduled_at": "2030-01-01T00:00:00Z"},
        {**BASE, "schedule_id": None, "correlation_id": None},
        {**BASE, "body": "x" * 2_000, "headers": {"a": "b" * 200}},  # two limits at once
        {**BASE, "topic": "a b", "body": "\ud800"},  # a model error before to_event's
    ],
)
def test_shapes_get_the_models_answer(data: dict[Any, Any]) -> None:
    check(data)


@pytest.mark.parametrize("data", [[], "x", None, 1, ("topic", "t")])
def test_what_is_not_a_dict_is_the_models_to_refuse(data: Any) -> None:
    assert fast_event(data, LIMITS, NOW) is None


@pytest.mark.parametrize(
    "data",
    [
        BASE,
        {"topic": "t", "body": {"user_id": 1}, "delay_seconds": 5},
        {"topic": "t", "body": [1, "a"], "scheduled_at": "2030-01-01T09:00:00Z"},
        {"topic": "t", "body": "x", "scheduled_at": datetime(2030, 1, 1, tzinfo=UTC)},
        {
            **BASE,
            "schedule_id": "reminder-123",
            "priority": -3,
            "max_delay_seconds": 600,
            "on_conflict": "replace",
            "scheduled_at": None,
            "delay_seconds": 1.5,
        },
        # What SchedulerService.schedule_event passes.
        {
            **BASE,
            "scheduled_at": None,
            "schedule_id": None,
            "priority": 0,
            "max_delay_seconds": None,
            "on_conflict": OnConflict.KEEP,
        },
    ],
)
def test_the_common_shapes_take_the_fast_path(data: dict[str, Any]) -> None:
    assert fast_event(data, LIMITS, NOW) is not None
    check(data)


@settings(max_examples=1500, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {}, optional={name: st.sampled_from(values) for name, values in VALUES.items()}
    )
)
def test_any_mix_of_values_gets_the_models_answer(data: dict[str, Any]) -> None:
    check(data)


def test_delay_seconds_counts_from_the_base_given() -> None:
    data = {"topic": "t", "body": "x", "delay_seconds": 30}
    found = fast_event(data, LIMITS, NOW, base=NOW - 10)
    assert found is not None and found[0].scheduled_at == NOW + 20
    assert found[0].created_at == NOW
    slow = to_event(parse_request(data), LIMITS, NOW, base=NOW - 10)
    assert dataclasses.replace(found[0], schedule_id="") == dataclasses.replace(
        slow, schedule_id=""
    )
    (ev, _) = request_event({**data, "priority": 1.0}, LIMITS, NOW, base=NOW - 10)  # the model
    assert ev.scheduled_at == NOW + 20
