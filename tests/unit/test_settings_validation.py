"""Settings validation (scheduler/settings.py): every bad value is refused with an error
that names the environment variable to fix. Nothing is connected to."""

from __future__ import annotations

import os
from typing import Any

import annotated_types as at
import pytest

from scheduler.errors import ConfigError
from scheduler.settings import Settings, env_name, load_settings

PREFIXES = ("SCHEDULES_", "KAFKA_", "REDIS_", "CLICKHOUSE_", "TEMPORAL_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets (tests/conftest.py and the developer's shell set some)."""
    for name in list(os.environ):
        if name.upper().startswith(PREFIXES):
            monkeypatch.delenv(name)


def bound_violations() -> list[Any]:
    """(env var, a value just outside the field's bound, the message expected)."""
    cases = []
    for field, info in Settings.model_fields.items():
        name = env_name(field)
        for bound in info.metadata:
            if isinstance(bound, at.Gt):
                cases.append(pytest.param(name, str(bound.gt), "greater than", id=f"{name}>"))
            elif isinstance(bound, at.Ge):
                cases.append(
                    pytest.param(name, str(bound.ge - 1), "greater than or equal", id=f"{name}>=")
                )
            elif isinstance(bound, at.Le):
                cases.append(
                    pytest.param(name, str(bound.le + 1), "less than or equal", id=f"{name}<=")
                )
    return cases


def wrong_types() -> list[Any]:
    cases = []
    for field, info in Settings.model_fields.items():
        name = env_name(field)
        if info.annotation is int:
            cases.append(pytest.param(name, "1.5", "valid integer", id=f"{name}:int"))
        elif info.annotation is float:
            cases.append(pytest.param(name, "soon", "valid number", id=f"{name}:float"))
            cases.append(pytest.param(name, "inf", "finite number", id=f"{name}:inf"))
        elif info.annotation in (bool, bool | None):
            cases.append(pytest.param(name, "maybe", "valid boolean", id=f"{name}:bool"))
    return cases


def refusal(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    return str(err.value)


def test_the_generated_cases_cover_the_constrained_settings() -> None:
    assert len(bound_violations()) > 40 and len(wrong_types()) > 40


@pytest.mark.parametrize(("name", "value", "message"), bound_violations() + wrong_types())
def test_a_bad_value_names_its_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    text = refusal(monkeypatch, name, value)
    (line,) = text.splitlines()[1:]  # one problem, one line
    assert line.strip().startswith(f"{name}: "), text
    assert message in line and repr(value) in line, text


@pytest.mark.parametrize("name", ["KAFKA_DELAYED_TOPIC_NAME", "KAFKA_DEAD_LETTER_TOPIC_NAME"])
@pytest.mark.parametrize("value", ["no spaces", ".", "..", "x" * 250, "t\u00f6pic", ""])
def test_illegal_topic_names(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    text = refusal(monkeypatch, name, value)
    assert f"{name}: " in text and "legal Kafka topic name" in text


def test_log_level_is_one_of_four_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULES_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"
    text = refusal(monkeypatch, "SCHEDULES_LOG_LEVEL", "loud")
    assert "SCHEDULES_LOG_LEVEL: " in text and "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in text


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULES_API_PORT", "0")
    monkeypatch.setenv("SCHEDULES_MAX_ATTEMPTS", "many")
    monkeypatch.setenv("SCHEDULES_LEASE_SECONDS", "-1")
    text = refusal(monkeypatch, "SCHEDULES_ANALYTICS_ENABLED", "perhaps")
    named = sorted(line.strip().split(":")[0] for line in text.splitlines()[1:])
    assert named == [
        "SCHEDULES_ANALYTICS_ENABLED",
        "SCHEDULES_API_PORT",
        "SCHEDULES_LEASE_SECONDS",
        "SCHEDULES_MAX_ATTEMPTS",
    ]


def test_overrides_by_field_name_are_reported_by_variable_name() -> None:
    with pytest.raises(ConfigError, match=r"SCHEDULES_EXECUTOR_BATCH_SIZE: .*5000 \(got 5001\)"):
        load_settings(executor_batch_size=5001)


def test_retry_max_below_retry_base_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULES_RETRY_BASE_SECONDS", "10")
    text = refusal(monkeypatch, "SCHEDULES_RETRY_MAX_SECONDS", "5")
    assert "SCHEDULES_RETRY_MAX_SECONDS must be >= SCHEDULES_RETRY_BASE_SECONDS" in text
    monkeypatch.setenv("SCHEDULES_RETRY_MAX_SECONDS", "10")
    assert load_settings().retry_max_seconds == 10  # equal is fine


def test_a_lease_shorter_than_two_kafka_timeouts_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_REQUEST_TIMEOUT_MS", "10000")
    text = refusal(monkeypatch, "SCHEDULES_LEASE_SECONDS", "19.9")
    assert "SCHEDULES_LEASE_SECONDS must be at least twice KAFKA_REQUEST_TIMEOUT_MS" in text
    assert "19.9s < 2 x 10000ms" in text
    monkeypatch.setenv("SCHEDULES_LEASE_SECONDS", "20")
    assert load_settings().lease_seconds == 20  # exactly twice is enough


def test_the_dead_letter_topic_must_differ_from_the_delayed_topic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_DELAYED_TOPIC_NAME", "events")
    text = refusal(monkeypatch, "KAFKA_DEAD_LETTER_TOPIC_NAME", "events")
    assert "KAFKA_DEAD_LETTER_TOPIC_NAME must differ from KAFKA_DELAYED_TOPIC_NAME" in text


def test_valid_edge_values_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SCHEDULES_CLICKHOUSE_SHIM_PORT": "0",  # 0 = none
        "SCHEDULES_API_PORT": "65535",
        "SCHEDULES_MAX_HEADERS": "0",
        "SCHEDULES_DEFAULT_MAX_DELAY_SECONDS": "0",
        "SCHEDULES_TEMPORAL_CATCHUP_WINDOW": "10",
        "SCHEDULES_EXECUTOR_BATCH_SIZE": "5000",
        "KAFKA_DELAYED_TOPIC_NAME": "a" * 249,
    }.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.clickhouse_shim_port, s.api_port, s.executor_batch_size) == (0, 65535, 5000)


def test_a_cross_field_error_does_not_print_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULES_API_TOKEN", "s3cret-token")
    monkeypatch.setenv("CLICKHOUSE_URL", "https://user:pa55word@ch.example:8443/db")
    monkeypatch.setenv("SCHEDULES_RETRY_BASE_SECONDS", "10")
    text = refusal(monkeypatch, "SCHEDULES_RETRY_MAX_SECONDS", "5")
    assert "SCHEDULES_RETRY_MAX_SECONDS" in text
    assert "s3cret-token" not in text and "pa55word" not in text


def test_a_bad_url_does_not_print_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    text = refusal(monkeypatch, "CLICKHOUSE_URL", "ftp://user:pa55word@ch.example:8443/db")
    assert "CLICKHOUSE_URL" in text and "pa55word" not in text


def test_a_topic_setting_with_a_trailing_newline_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "legal Kafka topic" in refusal(monkeypatch, "KAFKA_DELAYED_TOPIC_NAME", "delayed\n")
