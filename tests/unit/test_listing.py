"""The listing's cursor and filters (scheduler.listing), without services."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from scheduler.cold.records import Status, Tier
from scheduler.errors import InvalidEvent
from scheduler.listing import (
    CURSOR_PATTERN,
    MAX_LIMIT,
    ListFilter,
    State,
    check_limit,
    decode_cursor,
    encode_cursor,
    make_filter,
)


@pytest.mark.parametrize(
    "key", [(0, "a"), (1795428000000000, "reminder-123"), (-5, "x.y:z@w"), (10**15, "a" * 128)]
)
def test_a_cursor_names_its_key(key: tuple[int, str]) -> None:
    text = encode_cursor(key)
    assert re.fullmatch(CURSOR_PATTERN, text)
    assert decode_cursor(text) == key


@pytest.mark.parametrize(
    "text", ["", "x", "12", "12.", ".a", "1.a b", "a.b", "1" * 17 + ".a", "1.é", "1.a\n"]
)
def test_anything_else_is_refused_naming_the_cursor(text: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        decode_cursor(text)
    assert err.value.field == "cursor"


def test_statuses_as_callers_and_clickhouse_say_them() -> None:
    assert State.SCHEDULED.stored is Status.TRANSFERRED
    assert State.of("transferred") is State.SCHEDULED
    assert {s.stored for s in State} == set(Status)
    assert all(State.of(s.stored) is s for s in State)


def test_make_filter_names_the_bad_argument() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    for kwargs, field in (
        ({"status": ["done"]}, "status"),
        ({"tier": "warm"}, "tier"),
        ({"scheduled_from": datetime(2030, 1, 1)}, "scheduled_from"),
        ({"scheduled_to": datetime(2030, 1, 1)}, "scheduled_to"),
        ({"scheduled_from": at, "scheduled_to": at}, "scheduled_from"),
    ):
        with pytest.raises(InvalidEvent) as err:
            make_filter(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field
    for limit in (0, MAX_LIMIT + 1):
        with pytest.raises(InvalidEvent):
            check_limit(limit)
    assert check_limit(MAX_LIMIT) == MAX_LIMIT


def test_a_filter_keeps_what_it_says() -> None:
    f = make_filter(
        status=["scheduled"],
        tier="hot",
        topic="t",
        scheduled_from=datetime.fromtimestamp(10, UTC),
        scheduled_to=datetime.fromtimestamp(20, UTC),
    )
    assert f.statuses == {State.SCHEDULED} and f.tier is Tier.HOT
    row = {"topic": "t", "entity_type": "", "action": "", "tier": "hot"}
    assert f.keeps(**row, at_us=10_000_000)
    assert not f.keeps(**row, at_us=20_000_000)  # `to` is left out
    assert not f.keeps(**row, at_us=9_999_999)
    assert not f.keeps(**{**row, "topic": "u"}, at_us=15_000_000)
    assert not f.keeps(**{**row, "tier": "cold"}, at_us=15_000_000)
    assert ListFilter().wanted == frozenset(State)
    assert ListFilter().keeps(**row, at_us=0)
    assert f.reads_payloads and not ListFilter(tier=Tier.HOT).reads_payloads


def test_the_command_line_offers_every_status() -> None:
    from cli.ops import STATUSES

    assert set(STATUSES) == {s.value for s in State}
