"""Stand-ins for the unit layer: a clock that moves only when told to, events, and the
config objects as the default settings make them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiokafka.structs import ConsumerRecord
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from scheduler.cold.sync import SyncConfig
from scheduler.hot.executor import ExecutorConfig
from scheduler.models import Event, Limits
from scheduler.settings import Settings


class _DefaultSettings(Settings):
    """Settings from their defaults alone: the environment (tests/conftest.py sets some
    variables, a developer's shell may set more) does not reach the pure tests."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def default_settings(**overrides: Any) -> Settings:
    """Settings() as the defaults make it, whatever the environment says (validated)."""
    return _DefaultSettings(**overrides)


def limits(**overrides: Any) -> Limits:
    """The default settings' Limits, with `overrides` (field names of Limits)."""
    return replace(Limits.from_settings(default_settings()), **overrides)


def executor_config(**overrides: Any) -> ExecutorConfig:
    """The default settings' ExecutorConfig, with `overrides` (field names of it)."""
    return replace(ExecutorConfig.from_settings(default_settings()), **overrides)


def sync_config(**overrides: Any) -> SyncConfig:
    """The default settings' SyncConfig, with `overrides` (field names of it)."""
    return replace(SyncConfig.from_settings(default_settings()), **overrides)


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


def kafka_record(
    value: bytes,
    *,
    partition: int = 0,
    offset: int = 7,
    timestamp_ms: int = 1_700_000_000_000,
) -> ConsumerRecord[bytes, bytes]:
    """A consumed message of the delayed topic (CreateTime), as aiokafka hands it over."""
    return ConsumerRecord(
        topic="delayed",
        partition=partition,
        offset=offset,
        timestamp=timestamp_ms,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=len(value),
        headers=[],
    )
