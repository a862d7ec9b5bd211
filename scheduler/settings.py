"""All configuration, read once from the environment by each entry point.

Names and defaults follow the design doc (004). Nothing imports a settings singleton:
entry points build `Settings()` and pass it down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scheduler.errors import ConfigError

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def env(name: str, default: object, **kw: object) -> object:
    """A field read from exactly the environment variable `name` (case-insensitive)."""
    return Field(default, validation_alias=AliasChoices(name), **kw)  # type: ignore[call-overload]


PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", populate_by_name=True, env_file=None
    )

    # --- tiers (design doc names) ---------------------------------------------------
    immediate_horizon_seconds: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_IMMEDIATE_HORIZON_SECONDS",
        86400,
        description="Events due within this many seconds go to the Redis hot tier.",
    )
    transfer_horizon_seconds: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_TRANSFER_HORIZON_SECONDS",
        3600,
        description="The sync moves cold events due within this many seconds into Redis.",
    )
    clickhouse_sync_interval: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_CLICKHOUSE_SYNC_INTERVAL", 300, description="Seconds between syncs."
    )
    redis_processing_interval: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_REDIS_PROCESSING_INTERVAL",
        5,
        description="Longest idle wait of the executor; it wakes earlier for due events.",
    )
    execution_history_ttl_days: int = env(  # type: ignore[assignment]
        "SCHEDULES_EXECUTION_HISTORY_TTL_DAYS",
        90,
        ge=1,
        description="Days execution results are kept in ClickHouse (table TTL).",
    )
    analytics_enabled: bool = env(
        "SCHEDULES_ANALYTICS_ENABLED",
        True,
        description="Record every execution outcome in schedule_execution_results.",
    )  # type: ignore[assignment]
    analytics_batch_size: int = env(  # type: ignore[assignment]
        "SCHEDULES_ANALYTICS_BATCH_SIZE",
        1000,
        ge=1,
        le=1_000_000,
        description="Journal and execution rows per ClickHouse insert.",
    )
    analytics_flush_interval: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_ANALYTICS_FLUSH_INTERVAL",
        2,
        description="Longest wait before buffered journal and execution rows are written.",
    )

    # --- cold tier (ClickHouse) -------------------------------------------------------
    cold_tier_enabled: bool = env(  # type: ignore[assignment]
        "SCHEDULES_COLD_TIER_ENABLED",
        True,
        description="false = Redis only: no ClickHouse, events beyond the horizon refused.",
    )
    clickhouse_database: str | None = env(  # type: ignore[assignment]
        "SCHEDULES_CLICKHOUSE_DATABASE",
        None,
        description="Database to use; unset = the one in CLICKHOUSE_URL, else 'default'.",
    )
    clickhouse_auto_migrate: bool = env(  # type: ignore[assignment]
        "SCHEDULES_CLICKHOUSE_AUTO_MIGRATE",
        False,
        description="Apply pending migrations at start-up (`dev` does) instead of refusing.",
    )
    clickhouse_shim_port: int = env(  # type: ignore[assignment]
        "SCHEDULES_CLICKHOUSE_SHIM_PORT",
        8123,
        ge=0,
        le=65535,
        description="Loopback port of the read-only SQL endpoint over the embedded engine "
        "(`hybrid-scheduler sql` uses it); 0 = none.",
    )
    sync_batch_size: int = env(  # type: ignore[assignment]
        "SCHEDULES_SYNC_BATCH_SIZE",
        10_000,
        ge=1,
        le=1_000_000,
        description="Cold schedules moved into Redis per sync round.",
    )
    processing_timeout_seconds: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_PROCESSING_TIMEOUT_SECONDS",
        600,
        description="A cold schedule 'processing' this long is stuck; recovery resolves it.",
    )
    schedule_retention_days: int = env(  # type: ignore[assignment]
        "SCHEDULES_SCHEDULE_RETENTION_DAYS",
        30,
        ge=1,
        description="Finished schedules (executed, skipped, error, cancelled) kept this long.",
    )
    cleanup_interval: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_CLEANUP_INTERVAL", 3600, description="Seconds between cleanups (sync role)."
    )

    # --- connections (unset = embedded service started by `hybrid-scheduler dev`) ------
    redis_url: str = env(
        "REDIS_URL",
        "redis://127.0.0.1:6379/0",
        description="Redis of the hot tier (`dev` starts one when unset).",
    )  # type: ignore[assignment]
    kafka_bootstrap_servers: str = env(  # type: ignore[assignment]
        "KAFKA_BOOTSTRAP_SERVERS",
        "127.0.0.1:9092",
        description="Kafka brokers, host:port[,host:port] (`dev` starts Tansu when unset).",
    )
    clickhouse_url: str | None = env(  # type: ignore[assignment]
        "CLICKHOUSE_URL",
        None,
        description="http(s)://user:pass@host:port/db of a ClickHouse server; unset = embedded.",
    )
    clickhouse_path: Path = env(  # type: ignore[assignment]
        "SCHEDULES_CLICKHOUSE_PATH",
        Path(".dev/clickhouse"),
        description="Data directory of the embedded ClickHouse engine (chdb).",
    )
    temporal_address: str = env(
        "TEMPORAL_ADDRESS",
        "127.0.0.1:7233",
        description="Temporal frontend host:port (`dev` starts the dev server when unset).",
    )  # type: ignore[assignment]
    temporal_namespace: str = env(
        "TEMPORAL_NAMESPACE",
        "default",
        description="Temporal namespace of the workflows and schedules.",
    )  # type: ignore[assignment]
    temporal_task_queue: str = env(  # type: ignore[assignment]
        "SCHEDULES_TEMPORAL_TASK_QUEUE",
        "schedules",
        description="Task queue of the sync, cleanup and recovery workflows.",
    )
    recovery_interval: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_RECOVERY_INTERVAL",
        60,
        description="Seconds between runs of the Temporal schedule `schedules-recovery`.",
    )
    temporal_cleanup_interval: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_TEMPORAL_CLEANUP_INTERVAL",
        86400,
        description="Seconds between runs of the Temporal schedule `schedules-cleanup` "
        "(SCHEDULES_CLEANUP_INTERVAL is the in-process sync role's).",
    )
    temporal_catchup_window: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_TEMPORAL_CATCHUP_WINDOW",
        60,
        ge=10,
        description="Runs of the Temporal schedules missed (Temporal down) for longer "
        "than this are skipped, not made up.",
    )
    temporal_metrics_port: int = env(  # type: ignore[assignment]
        "SCHEDULES_TEMPORAL_METRICS_PORT",
        0,
        ge=0,
        le=65535,
        description="Port of the worker's Prometheus endpoint for Temporal SDK metrics "
        "(http://host:port/metrics); 0 = none.",
    )
    api_host: str = env(
        "SCHEDULES_API_HOST",
        "127.0.0.1",
        description="Interface the HTTP API listens on.",
    )  # type: ignore[assignment]
    api_port: int = env(
        "SCHEDULES_API_PORT", 8000, ge=1, le=65535, description="Port of the HTTP API."
    )  # type: ignore[assignment]
    api_token: str | None = env(  # type: ignore[assignment]
        "SCHEDULES_API_TOKEN",
        None,
        description="When set, mutating HTTP endpoints need `Authorization: Bearer <token>` "
        "(health and metrics stay open).",
    )
    api_max_batch: int = env(  # type: ignore[assignment]
        "SCHEDULES_API_MAX_BATCH",
        1000,
        ge=1,
        le=100_000,
        description="Most events one POST /api/v1/schedules/batch may carry.",
    )
    api_max_request_bytes: int = env(  # type: ignore[assignment]
        "SCHEDULES_API_MAX_REQUEST_BYTES",
        16_777_216,
        ge=1,
        description="Largest HTTP request body; larger ones get 413.",
    )
    api_job_wait_seconds: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_API_JOB_WAIT_SECONDS",
        30,
        description="How long POST .../monitoring/sync and /cleanup wait for the Temporal "
        "workflow before answering 202 with its workflow id.",
    )

    # --- Kafka ------------------------------------------------------------------------
    delayed_topic: str = env(
        "KAFKA_DELAYED_TOPIC_NAME",
        "delayed_events",
        description="Topic services put scheduling envelopes on.",
    )  # type: ignore[assignment]
    dead_letter_topic: str = env(  # type: ignore[assignment]
        "KAFKA_DEAD_LETTER_TOPIC_NAME",
        "delayed_events.dlq",
        description="Topic for invalid envelopes and undeliverable events (reason in headers).",
    )
    consumer_group: str = env(  # type: ignore[assignment]
        "KAFKA_CONSUMER_GROUP",
        "hybrid-scheduler",
        description="Consumer group of the delayed-topic consumers.",
    )
    kafka_idempotent_producer: bool | None = env(  # type: ignore[assignment]
        "KAFKA_IDEMPOTENT_PRODUCER",
        None,
        description="Unset = on, except for the embedded broker, which does not support it.",
    )
    kafka_request_timeout_ms: int = env(  # type: ignore[assignment]
        "KAFKA_REQUEST_TIMEOUT_MS",
        10_000,
        ge=100,
        description="Kafka request timeout; the lease must be at least twice this.",
    )
    kafka_linger_ms: int = env(
        "KAFKA_LINGER_MS",
        2,
        ge=0,
        le=1000,
        description="Producer linger: how long a record batch may wait to fill.",
    )  # type: ignore[assignment]
    ingest_batch_size: int = env(  # type: ignore[assignment]
        "SCHEDULES_INGEST_BATCH_SIZE",
        2000,
        ge=1,
        le=100_000,
        description="Messages per consumed batch (one store and one commit each).",
    )

    # --- hot tier / executor ----------------------------------------------------------
    redis_key_prefix: str = env(
        "SCHEDULES_REDIS_KEY_PREFIX",
        "",
        description="Prefix of every Redis key (isolates deployments sharing a Redis).",
    )  # type: ignore[assignment]
    executor_batch_size: int = env(  # type: ignore[assignment]
        "SCHEDULES_EXECUTOR_BATCH_SIZE",
        500,
        ge=1,
        le=5000,
        description="Events claimed per executor batch (one Lua call).",
    )
    executor_concurrent_batches: int = env(  # type: ignore[assignment]
        "SCHEDULES_EXECUTOR_CONCURRENT_BATCHES",
        4,
        ge=1,
        le=64,
        description="Batches an executor has in flight at once.",
    )
    lease_seconds: PositiveSeconds = env(
        "SCHEDULES_LEASE_SECONDS",
        30,
        description="Lease on claimed events; expired leases fire again elsewhere.",
    )  # type: ignore[assignment]
    max_attempts: int = env(
        "SCHEDULES_MAX_ATTEMPTS",
        5,
        ge=1,
        le=100,
        description="Delivery attempts before an event is dead-lettered.",
    )  # type: ignore[assignment]
    retry_base_seconds: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_RETRY_BASE_SECONDS",
        1,
        description="First retry delay (exponential backoff, equal jitter).",
    )
    retry_max_seconds: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_RETRY_MAX_SECONDS", 300, description="Longest retry delay."
    )
    breaker_failure_threshold: int = env(  # type: ignore[assignment]
        "SCHEDULES_BREAKER_FAILURE_THRESHOLD",
        5,
        ge=1,
        description="Batches failed on an unreachable broker before the breaker opens.",
    )
    breaker_reset_seconds: PositiveSeconds = env(  # type: ignore[assignment]
        "SCHEDULES_BREAKER_RESET_SECONDS",
        10,
        description="How long the open breaker stops claims before probing.",
    )
    default_max_delay_seconds: int = env(  # type: ignore[assignment]
        "SCHEDULES_DEFAULT_MAX_DELAY_SECONDS",
        86400,
        ge=0,
        description="max_delay_seconds of events that do not set it.",
    )

    # --- input limits -----------------------------------------------------------------
    max_body_bytes: int = env(
        "SCHEDULES_MAX_BODY_BYTES", 1_048_576, ge=1, description="Largest accepted body."
    )  # type: ignore[assignment]
    max_headers: int = env(
        "SCHEDULES_MAX_HEADERS", 64, ge=0, description="Most headers an event may carry."
    )  # type: ignore[assignment]
    max_header_bytes: int = env(
        "SCHEDULES_MAX_HEADER_BYTES",
        16_384,
        ge=1,
        description="Largest total size of an event's header names and values.",
    )  # type: ignore[assignment]

    # --- process ----------------------------------------------------------------------
    node_id: str = env(
        "SCHEDULES_NODE_ID",
        "",
        description="This process's name in execution results (default: host name).",
    )  # type: ignore[assignment]
    dev_dir: Path = env(
        "SCHEDULES_DEV_DIR",
        Path(".dev"),
        description="Where `dev` keeps the embedded services' state and logs.",
    )  # type: ignore[assignment]
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = env(  # type: ignore[assignment]
        "SCHEDULES_LOG_LEVEL", "INFO", description="DEBUG, INFO, WARNING or ERROR."
    )

    @field_validator("delayed_topic", "dead_letter_topic")
    @classmethod
    def _legal_topic(cls, v: str) -> str:
        if not _TOPIC_RE.fullmatch(v) or v in {".", ".."}:
            raise ValueError(f"{v!r} is not a legal Kafka topic name")
        return v

    @field_validator("clickhouse_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of a ClickHouse server")
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _horizons(self) -> Settings:
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("SCHEDULES_RETRY_MAX_SECONDS must be >= SCHEDULES_RETRY_BASE_SECONDS")
        if self.lease_seconds < 2 * self.kafka_request_timeout_ms / 1000:
            # A lease that ends while the executor still waits for the broker lets another
            # executor claim and fire the same event again.
            raise ValueError(
                "SCHEDULES_LEASE_SECONDS must be at least twice KAFKA_REQUEST_TIMEOUT_MS "
                f"({self.lease_seconds}s < 2 x {self.kafka_request_timeout_ms}ms)"
            )
        if self.delayed_topic == self.dead_letter_topic:
            raise ValueError(
                "KAFKA_DEAD_LETTER_TOPIC_NAME must differ from KAFKA_DELAYED_TOPIC_NAME"
            )
        return self

    @property
    def idempotent_producer(self) -> bool:
        return True if self.kafka_idempotent_producer is None else self.kafka_idempotent_producer


def env_name(field: str) -> str:
    """The environment variable that sets `field` (for error messages and docs)."""
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices)
    return str(alias.choices[0])


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning a validation error into one naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else ""
            if not loc:  # a rule across fields: its input is every setting, secrets too
                problems.append(f"settings: {err['msg']}")
                continue
            name = env_name(loc) if loc in Settings.model_fields else loc.upper()
            got = _redacted(name, err.get("input"))
            problems.append(f"{name}: {err['msg']} (got {got!r})")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None


def _redacted(name: str, value: object) -> object:
    """A setting's value as an error may show it: no token, no password in a URL."""
    if "TOKEN" in name or "PASSWORD" in name:
        return "***"
    if isinstance(value, str) and "://" in value and "@" in value:
        scheme, _, rest = value.partition("://")
        userinfo, _, host = rest.rpartition("@")
        return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"
    return value
