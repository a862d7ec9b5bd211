"""Settings: the documented names and defaults, and clear errors for bad values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scheduler.errors import ConfigError
from scheduler.settings import Settings, load_settings


def test_design_doc_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("SCHEDULES_", "KAFKA_", "REDIS_", "CLICKHOUSE_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    s = load_settings()
    assert s.immediate_horizon_seconds == 86400
    assert s.transfer_horizon_seconds == 3600
    assert s.clickhouse_sync_interval == 300
    assert s.redis_processing_interval == 5
    assert s.execution_history_ttl_days == 90
    assert s.analytics_enabled is True
    assert s.analytics_batch_size == 1000
    assert s.api_port == 8000
    assert s.clickhouse_url is None  # embedded engine
    assert s.idempotent_producer is True  # on unless told otherwise


def test_environment_variables_are_read_by_their_documented_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHEDULES_IMMEDIATE_HORIZON_SECONDS", "3600")
    monkeypatch.setenv("KAFKA_DELAYED_TOPIC_NAME", "my.delayed")
    monkeypatch.setenv("SCHEDULES_ANALYTICS_ENABLED", "false")
    s = load_settings()
    assert (s.immediate_horizon_seconds, s.delayed_topic, s.analytics_enabled) == (
        3600,
        "my.delayed",
        False,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SCHEDULES_IMMEDIATE_HORIZON_SECONDS", "soon", "valid number"),
        ("SCHEDULES_IMMEDIATE_HORIZON_SECONDS", "-1", "greater than 0"),
        ("SCHEDULES_REDIS_PROCESSING_INTERVAL", "nan", "finite"),
        ("KAFKA_DELAYED_TOPIC_NAME", "no spaces", "legal Kafka topic"),
        ("SCHEDULES_API_PORT", "70000", "less than or equal to 65535"),
        ("SCHEDULES_ANALYTICS_ENABLED", "maybe", "valid boolean"),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert name in str(err.value) and message in str(err.value)


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="SCHEDULES_LEASE_SECONDS"):
        load_settings(lease_seconds=5, kafka_request_timeout_ms=10_000)
    with pytest.raises(ConfigError, match="KAFKA_DEAD_LETTER_TOPIC_NAME"):
        load_settings(delayed_topic="a", dead_letter_topic="a")


def test_cli_start_up_stops_with_the_setting_named() -> None:
    env = {**os.environ, "SCHEDULES_EXECUTOR_BATCH_SIZE": "zero"}
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--role", "executor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "SCHEDULES_EXECUTOR_BATCH_SIZE" in proc.stderr
    assert Settings.model_fields  # the module imports cleanly


def test_readme_documents_every_setting() -> None:
    from pathlib import Path

    from pydantic import AliasChoices

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    missing = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices)
        if f"`{alias.choices[0]}`" not in readme:
            missing.append(str(alias.choices[0]))
    assert missing == [], f"README.md does not document {missing}"
