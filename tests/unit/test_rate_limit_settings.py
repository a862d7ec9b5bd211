"""SCHEDULES_TOPIC_RATE_LIMITS (scheduler/settings.py): the accepted forms, and errors
that name the setting and the faulty entry."""

from __future__ import annotations

import os

import pytest

from scheduler.errors import ConfigError
from scheduler.settings import RateLimit, load_settings, parse_rate_limits


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(("SCHEDULES_", "KAFKA_", "REDIS_", "CLICKHOUSE_")):
            monkeypatch.delenv(name)


def test_forms() -> None:
    assert parse_rate_limits("") == {}
    assert parse_rate_limits(" orders = 200 , emails=50:500,") == {
        "orders": RateLimit(200.0),
        "emails": RateLimit(50.0, 500.0),
    }
    assert parse_rate_limits("slow.topic=0.5") == {"slow.topic": RateLimit(0.5)}


def test_capacity_is_the_burst_else_one_seconds_worth_at_least_one() -> None:
    assert RateLimit(200.0).capacity == 200.0
    assert RateLimit(0.5).capacity == 1.0
    assert RateLimit(50.0, 5.0).capacity == 5.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("orders", "'orders' is not topic=events_per_second[:burst]"),
        ("=5", "'=5' is not topic=events_per_second[:burst]"),
        ("orders=fast", "'orders=fast' is not topic=events_per_second[:burst]"),
        ("orders=5:lots", "'orders=5:lots' is not topic=events_per_second[:burst]"),
        ("no spaces=5", "'no spaces' is not a legal Kafka topic name"),
        ("..=5", "'..' is not a legal Kafka topic name"),
        ("orders=5,orders=6", "topic 'orders' is given twice"),
        ("orders=0", "orders: events_per_second must be a number from 0.001 to 1e+06"),
        ("orders=nan", "orders: events_per_second must be a number"),
        ("orders=2000000", "orders: events_per_second must be a number"),
        ("orders=5:0.5", "orders: burst must be a number from 1 to 1e+07"),
        ("orders=5:inf", "orders: burst must be a number"),
    ],
)
def test_bad_values_name_the_setting_and_the_entry(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("SCHEDULES_TOPIC_RATE_LIMITS", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "SCHEDULES_TOPIC_RATE_LIMITS" in str(err.value)
    assert message in str(err.value)


def test_the_setting_is_read() -> None:
    s = load_settings(topic_rate_limits="orders=200")
    assert s.rate_limits == {"orders": RateLimit(200.0)}
