"""All configuration, read once from the environment by each entry point.

Every setting's environment variable, default, bounds and description are here and
nowhere else: the smaller config objects (ExecutorConfig, SyncConfig, ColdConfig, Limits)
are built from Settings and have no defaults of their own. Nothing imports a settings
singleton: entry points build `Settings()` and pass it down.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scheduler.errors import ConfigError

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]

# Bounds of a per-topic rate limit (events per second; burst in events).
MAX_RATE = 1_000_000.0
MIN_RATE = 0.001
MAX_BURST = 10_000_000.0


class RateLimit(NamedTuple):
    """A topic's limit: `rate` events per second, bursts of up to `burst` events (None:
    one second's worth, at least one event)."""

    rate: float
    burst: float | None = None

    @property
    def capacity(self) -> float:
        """The token bucket's size: what may fire at once after a quiet period."""
        return self.burst if self.burst is not None else max(1.0, self.rate)


def check_rate_limit(rate: float, burst: float | None) -> tuple[str, str] | None:
    """What is wrong with this limit, as (field, message), or None."""
    if not math.isfinite(rate) or not MIN_RATE <= rate <= MAX_RATE:
        return "events_per_second", f"must be a number from {MIN_RATE:g} to {MAX_RATE:g}"
    if burst is not None and (not math.isfinite(burst) or not 1 <= burst <= MAX_BURST):
        return "burst", f"must be a number from 1 to {MAX_BURST:g}"
    return None


def parse_rate_limits(text: str) -> dict[str, RateLimit]:
    """`orders=200,emails=50:500` (topic=events per second[:burst], comma-separated) as
    {topic: RateLimit}; ValueError naming the faulty entry."""
    limits: dict[str, RateLimit] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        topic, eq, value = (part.strip() for part in entry.partition("="))
        if not eq or not topic:
            raise ValueError(f"{entry!r} is not topic=events_per_second[:burst]")
        if not _TOPIC_RE.fullmatch(topic) or topic in {".", ".."}:
            raise ValueError(f"{topic!r} is not a legal Kafka topic name")
        if topic in limits:
            raise ValueError(f"topic {topic!r} is given twice")
        rate_text, colon, burst_text = value.partition(":")
        try:
            rate = float(rate_text)
            burst = float(burst_text) if colon else None
        except ValueError:
            raise ValueError(f"{entry!r} is not topic=events_per_second[:burst]") from None
        if problem := check_rate_limit(rate, burst):
            raise ValueError(f"{topic}: {problem[0]} {problem[1]}")
        limits[topic] = RateLimit(rate, burst)
    return limits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", populate_by_name=True, env_file=None
    )

    # --- tiers ---------------------------------------------------------------------
    immediate_horizon_seconds: PositiveSeconds = Field(
        86400,
        validation_alias=AliasChoices("SCHEDULES_IMMEDIATE_HORIZON_SECONDS"),
        description="Events due within this many seconds go to the Redis hot tier.",
    )
    transfer_horizon_seconds: PositiveSeconds = Field(
        3600,
        validation_alias=AliasChoices("SCHEDULES_TRANSFER_HORIZON_SECONDS"),
        description="The sync moves cold events due within this many seconds into Redis.",
    )
    clickhouse_sync_interval: PositiveSeconds = Field(
        300,
        validation_alias=AliasChoices("SCHEDULES_CLICKHOUSE_SYNC_INTERVAL"),
        description="Seconds between syncs.",
    )
    redis_processing_interval: PositiveSeconds = Field(
        5,
        validation_alias=AliasChoices("SCHEDULES_REDIS_PROCESSING_INTERVAL"),
        description="Longest idle wait of the executor; it wakes earlier for due events.",
    )
    execution_history_ttl_days: int = Field(
        90,
        validation_alias=AliasChoices("SCHEDULES_EXECUTION_HISTORY_TTL_DAYS"),
        ge=1,
        description="Days execution results are kept in ClickHouse (table TTL).",
    )
    analytics_enabled: bool = Field(
        True,
        validation_alias=AliasChoices("SCHEDULES_ANALYTICS_ENABLED"),
        description="Record every execution outcome in schedule_execution_results.",
    )
    analytics_batch_size: int = Field(
        1000,
        validation_alias=AliasChoices("SCHEDULES_ANALYTICS_BATCH_SIZE"),
        ge=1,
        le=1_000_000,
        description="Journal and execution rows per ClickHouse insert.",
    )
    analytics_flush_interval: PositiveSeconds = Field(
        2,
        validation_alias=AliasChoices("SCHEDULES_ANALYTICS_FLUSH_INTERVAL"),
        description="Longest wait before buffered journal and execution rows are written.",
    )

    # --- cold tier (ClickHouse) -------------------------------------------------------
    cold_tier_enabled: bool = Field(
        True,
        validation_alias=AliasChoices("SCHEDULES_COLD_TIER_ENABLED"),
        description="false = Redis only: no ClickHouse, events beyond the horizon refused.",
    )
    clickhouse_database: str | None = Field(
        None,
        validation_alias=AliasChoices("SCHEDULES_CLICKHOUSE_DATABASE"),
        description="Database to use; unset = the one in CLICKHOUSE_URL, else 'default'.",
    )
    clickhouse_auto_migrate: bool = Field(
        False,
        validation_alias=AliasChoices("SCHEDULES_CLICKHOUSE_AUTO_MIGRATE"),
        description="Apply pending migrations at start-up (`dev` does) instead of refusing.",
    )
    clickhouse_shim_port: int = Field(
        8123,
        validation_alias=AliasChoices("SCHEDULES_CLICKHOUSE_SHIM_PORT"),
        ge=0,
        le=65535,
        description="Loopback port of the read-only SQL endpoint over the embedded engine "
        "(`hybrid-scheduler sql` uses it; under `dev`, its SCHEDULES_DEV_CLICKHOUSE_PORT "
        "endpoint serves both when the ports are equal); 0 = none.",
    )
    sync_batch_size: int = Field(
        10_000,
        validation_alias=AliasChoices("SCHEDULES_SYNC_BATCH_SIZE"),
        ge=1,
        le=1_000_000,
        description="Cold schedules moved into Redis per sync round.",
    )
    processing_timeout_seconds: PositiveSeconds = Field(
        600,
        validation_alias=AliasChoices("SCHEDULES_PROCESSING_TIMEOUT_SECONDS"),
        description="A cold schedule 'processing' this long is stuck; recovery resolves it.",
    )
    schedule_retention_days: int = Field(
        30,
        validation_alias=AliasChoices("SCHEDULES_SCHEDULE_RETENTION_DAYS"),
        ge=1,
        description="Finished schedules (executed, skipped, error, cancelled) kept this long.",
    )
    cleanup_interval: PositiveSeconds = Field(
        3600,
        validation_alias=AliasChoices("SCHEDULES_CLEANUP_INTERVAL"),
        description="Seconds between cleanups (sync role).",
    )

    # --- connections (unset = embedded service started by `hybrid-scheduler dev`) ------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL"),
        description="Redis of the hot tier (`dev` starts one when unset).",
    )
    redis_sentinels: str | None = Field(
        None,
        validation_alias=AliasChoices("SCHEDULES_REDIS_SENTINELS"),
        description="Sentinel mode: host:port[,host:port] of Redis Sentinels; every client "
        "asks them for the primary of SCHEDULES_REDIS_SENTINEL_MASTER and follows a "
        "failover (REDIS_URL then gives only the database, user, password and TLS); "
        "unset = the Redis at REDIS_URL.",
    )
    redis_cluster: bool = Field(
        False,
        validation_alias=AliasChoices("SCHEDULES_REDIS_CLUSTER"),
        description="Redis Cluster mode: REDIS_URL names one node of the cluster, the "
        "client finds the others and follows failovers; needs SCHEDULES_REDIS_SHARDS of 2 "
        "or more (each shard is one slot). false = the Redis at REDIS_URL.",
    )
    redis_sentinel_master: str = Field(
        "mymaster",
        validation_alias=AliasChoices("SCHEDULES_REDIS_SENTINEL_MASTER"),
        min_length=1,
        description="Name of the monitored primary the Sentinels know (sentinel monitor <name>).",
    )
    redis_sentinel_password: str | None = Field(
        None,
        validation_alias=AliasChoices("SCHEDULES_REDIS_SENTINEL_PASSWORD"),
        description="Password of the Sentinels themselves (their requirepass); unset = none.",
    )
    redis_min_replicas_ack: int = Field(
        0,
        validation_alias=AliasChoices("SCHEDULES_REDIS_MIN_REPLICAS_ACK"),
        ge=0,
        le=100,
        description="Every hot-tier write waits (WAIT) until this many replicas have it "
        "before it counts as stored; fewer within SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT is "
        "an error (HTTP 503, no offset commit, no produce). 0 = no wait.",
    )
    redis_shards: int = Field(
        1,
        validation_alias=AliasChoices("SCHEDULES_REDIS_SHARDS"),
        ge=1,
        le=1024,
        description="Shards of the hot tier (each one hash tag, so one Redis Cluster slot); "
        "an event's shard is crc32(schedule_id) % N. 1 = today's key names. Roles refuse to "
        "start with another N than the stored events' (change it on a drained hot tier).",
    )
    redis_replica_ack_timeout: PositiveSeconds = Field(
        1.0,
        validation_alias=AliasChoices("SCHEDULES_REDIS_REPLICA_ACK_TIMEOUT"),
        le=60,
        description="Longest wait for SCHEDULES_REDIS_MIN_REPLICAS_ACK replicas per write.",
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka brokers, host:port[,host:port] (`dev` starts Tansu when unset).",
    )
    clickhouse_url: str | None = Field(
        None,
        validation_alias=AliasChoices("CLICKHOUSE_URL"),
        description="http(s)://user:pass@host:port/db of a ClickHouse server; unset = embedded.",
    )
    clickhouse_path: Path = Field(
        Path(".dev/clickhouse"),
        validation_alias=AliasChoices("SCHEDULES_CLICKHOUSE_PATH"),
        description="Data directory of the embedded ClickHouse engine (chdb).",
    )
    temporal_address: str = Field(
        "127.0.0.1:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS"),
        description="Temporal frontend host:port (`dev` starts the dev server when unset).",
    )
    temporal_namespace: str = Field(
        "default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE"),
        description="Temporal namespace of the workflows and schedules.",
    )
    temporal_task_queue: str = Field(
        "schedules",
        validation_alias=AliasChoices("SCHEDULES_TEMPORAL_TASK_QUEUE"),
        description="Task queue of the sync, cleanup and recovery workflows.",
    )
    recovery_interval: PositiveSeconds = Field(
        60,
        validation_alias=AliasChoices("SCHEDULES_RECOVERY_INTERVAL"),
        description="Seconds between runs of the Temporal schedule `schedules-recovery`.",
    )
    recurring_interval: PositiveSeconds = Field(
        60,
        validation_alias=AliasChoices("SCHEDULES_RECURRING_INTERVAL"),
        description="Seconds between materialisations of the recurring schedules' "
        "occurrences (the Temporal schedule `schedules-recurring`, or the `recurring` role).",
    )
    temporal_cleanup_interval: PositiveSeconds = Field(
        86400,
        validation_alias=AliasChoices("SCHEDULES_TEMPORAL_CLEANUP_INTERVAL"),
        description="Seconds between runs of the Temporal schedule `schedules-cleanup` "
        "(SCHEDULES_CLEANUP_INTERVAL is the in-process sync role's).",
    )
    temporal_catchup_window: PositiveSeconds = Field(
        60,
        validation_alias=AliasChoices("SCHEDULES_TEMPORAL_CATCHUP_WINDOW"),
        ge=10,
        description="Runs of the Temporal schedules missed (Temporal down) for longer "
        "than this are skipped, not made up.",
    )
    temporal_metrics_port: int = Field(
        0,
        validation_alias=AliasChoices("SCHEDULES_TEMPORAL_METRICS_PORT"),
        ge=0,
        le=65535,
        description="Port of the worker's Prometheus endpoint for Temporal SDK metrics "
        "(http://host:port/metrics); 0 = none.",
    )
    metrics_port: int = Field(
        9464,
        validation_alias=AliasChoices("SCHEDULES_METRICS_PORT"),
        ge=0,
        le=65535,
        description="Port of this process's Prometheus endpoint (http://host:port/metrics: "
        "every metric of its roles, the Temporal worker's job metrics included, and the "
        "queue gauges read from Redis and ClickHouse on scrape); 0 = none. One endpoint "
        "per process, however many roles it runs.",
    )
    gc_young_threshold: int = Field(
        7000,
        validation_alias=AliasChoices("SCHEDULES_GC_YOUNG_THRESHOLD"),
        ge=0,
        description="Role processes (serve, worker): after start-up the garbage collector "
        "freezes what start-up built (gc.freeze) and collects the young generation every "
        "this many allocations (Python's default is 700); 0 keeps Python's thresholds. "
        "Pauses are exported as schedules_gc_pause_seconds.",
    )
    metrics_host: str = Field(
        "0.0.0.0",
        validation_alias=AliasChoices("SCHEDULES_METRICS_HOST"),
        description="Interface the metrics endpoint listens on (all by default, for a "
        "Prometheus on another host or container; 127.0.0.1 keeps it on this host).",
    )
    api_host: str = Field(
        "127.0.0.1",
        validation_alias=AliasChoices("SCHEDULES_API_HOST"),
        description="Interface the HTTP API listens on.",
    )
    api_port: int = Field(
        8000,
        validation_alias=AliasChoices("SCHEDULES_API_PORT"),
        ge=1,
        le=65535,
        description="Port of the HTTP API.",
    )
    api_token: str | None = Field(
        None,
        validation_alias=AliasChoices("SCHEDULES_API_TOKEN"),
        description="When set, mutating HTTP endpoints need `Authorization: Bearer <token>` "
        "(health and metrics stay open), and the console at /ui asks for it once.",
    )
    temporal_ui_url: str | None = Field(
        None,
        validation_alias=AliasChoices("SCHEDULES_TEMPORAL_UI_URL"),
        description="Address of the Temporal web UI, for the console's links to the job runs "
        "(e.g. http://temporal-ui:8080); unset = no links (`dev` sets its own UI's).",
    )
    api_max_batch: int = Field(
        1000,
        validation_alias=AliasChoices("SCHEDULES_API_MAX_BATCH"),
        ge=1,
        le=100_000,
        description="Most events one POST /api/v1/schedules/batch may carry.",
    )
    api_max_request_bytes: int = Field(
        16_777_216,
        validation_alias=AliasChoices("SCHEDULES_API_MAX_REQUEST_BYTES"),
        ge=1,
        description="Largest HTTP request body; larger ones get 413.",
    )
    api_job_wait_seconds: PositiveSeconds = Field(
        30,
        validation_alias=AliasChoices("SCHEDULES_API_JOB_WAIT_SECONDS"),
        description="How long POST .../monitoring/sync and /cleanup wait for the Temporal "
        "workflow before answering 202 with its workflow id.",
    )

    # --- Kafka ------------------------------------------------------------------------
    delayed_topic: str = Field(
        "delayed_events",
        validation_alias=AliasChoices("KAFKA_DELAYED_TOPIC_NAME"),
        description="Topic services put scheduling envelopes on.",
    )
    dead_letter_topic: str = Field(
        "delayed_events.dlq",
        validation_alias=AliasChoices("KAFKA_DEAD_LETTER_TOPIC_NAME"),
        description="Topic for invalid envelopes and undeliverable events (reason in headers).",
    )
    dead_letter_scan_limit: int = Field(
        10_000,
        validation_alias=AliasChoices("SCHEDULES_DEAD_LETTER_SCAN_LIMIT"),
        ge=1,
        le=1_000_000,
        description="Most dead-letter topic messages one listing or replay by filter reads "
        "(the newest of its time window).",
    )
    consumer_group: str = Field(
        "hybrid-scheduler",
        validation_alias=AliasChoices("KAFKA_CONSUMER_GROUP"),
        description="Consumer group of the delayed-topic consumers.",
    )
    kafka_idempotent_producer: bool | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_IDEMPOTENT_PRODUCER"),
        description="Unset = on, except for the embedded broker, which does not support it.",
    )
    kafka_request_timeout_ms: int = Field(
        10_000,
        validation_alias=AliasChoices("KAFKA_REQUEST_TIMEOUT_MS"),
        ge=100,
        description="Kafka request timeout; the lease must be at least twice this.",
    )
    kafka_linger_ms: int = Field(
        2,
        validation_alias=AliasChoices("KAFKA_LINGER_MS"),
        ge=0,
        le=1000,
        description="Producer linger: how long a record batch may wait to fill.",
    )
    ingest_batch_size: int = Field(
        2000,
        validation_alias=AliasChoices("SCHEDULES_INGEST_BATCH_SIZE"),
        ge=1,
        le=100_000,
        description="Messages per consumed batch (one store and one commit each).",
    )
    ingest_journal_batch_size: int = Field(
        20_000,
        validation_alias=AliasChoices("SCHEDULES_INGEST_JOURNAL_BATCH_SIZE"),
        ge=1,
        le=1_000_000,
        description="With the cold tier: ingested events journaled per ClickHouse insert "
        "(rows of several consumed batches; their offsets are committed after it).",
    )
    ingest_journal_flush_interval: PositiveSeconds = Field(
        1.0,
        validation_alias=AliasChoices("SCHEDULES_INGEST_JOURNAL_FLUSH_INTERVAL"),
        description="With the cold tier: longest wait of an ingested event for its journal "
        "insert (and of its offset for the commit).",
    )

    # --- hot tier / executor ----------------------------------------------------------
    redis_key_prefix: str = Field(
        "",
        validation_alias=AliasChoices("SCHEDULES_REDIS_KEY_PREFIX"),
        description="Prefix of every Redis key (isolates deployments sharing a Redis).",
    )
    hot_compress_min_bytes: int = Field(
        256,
        validation_alias=AliasChoices("SCHEDULES_HOT_COMPRESS_MIN_BYTES"),
        ge=0,
        description="Bodies at least this long are kept deflated in Redis when that "
        "saves at least an eighth of them (~5 µs per event to store, ~2 µs to fire; a "
        "400-byte JSON body then takes ~130 bytes less); 0 = never. Set 0 while roles "
        "older than this setting still run: they cannot read a deflated body.",
    )
    executor_batch_size: int = Field(
        2000,
        validation_alias=AliasChoices("SCHEDULES_EXECUTOR_BATCH_SIZE"),
        ge=1,
        le=5000,
        description="Most events claimed per executor batch (script calls of at most 500; "
        "more than 500 only while a backlog fills them).",
    )
    executor_concurrent_batches: int = Field(
        4,
        validation_alias=AliasChoices("SCHEDULES_EXECUTOR_CONCURRENT_BATCHES"),
        ge=1,
        le=64,
        description="Batches an executor has in flight at once.",
    )
    lease_seconds: PositiveSeconds = Field(
        30,
        validation_alias=AliasChoices("SCHEDULES_LEASE_SECONDS"),
        description="Lease on claimed events; expired leases fire again elsewhere.",
    )
    max_attempts: int = Field(
        5,
        validation_alias=AliasChoices("SCHEDULES_MAX_ATTEMPTS"),
        ge=1,
        le=100,
        description="Delivery attempts before an event is dead-lettered.",
    )
    retry_base_seconds: PositiveSeconds = Field(
        1,
        validation_alias=AliasChoices("SCHEDULES_RETRY_BASE_SECONDS"),
        description="First retry delay (exponential backoff, equal jitter).",
    )
    retry_max_seconds: PositiveSeconds = Field(
        300,
        validation_alias=AliasChoices("SCHEDULES_RETRY_MAX_SECONDS"),
        description="Longest retry delay.",
    )
    breaker_failure_threshold: int = Field(
        5,
        validation_alias=AliasChoices("SCHEDULES_BREAKER_FAILURE_THRESHOLD"),
        ge=1,
        description="Batches failed on an unreachable broker before the breaker opens.",
    )
    breaker_reset_seconds: PositiveSeconds = Field(
        10,
        validation_alias=AliasChoices("SCHEDULES_BREAKER_RESET_SECONDS"),
        description="How long the open breaker stops claims before probing.",
    )
    topic_rate_limits: str = Field(
        "",
        validation_alias=AliasChoices("SCHEDULES_TOPIC_RATE_LIMITS"),
        description="Per-topic firing limits, `topic=events_per_second[:burst]` comma-"
        "separated (e.g. `orders=200,emails=50:500`; burst default: one second's worth); "
        "the HTTP API, CLI and Python API set others, and override these, at run time. "
        "Give every process the same value.",
    )
    default_max_delay_seconds: int = Field(
        86400,
        validation_alias=AliasChoices("SCHEDULES_DEFAULT_MAX_DELAY_SECONDS"),
        ge=0,
        description="max_delay_seconds of events that do not set it.",
    )

    # --- input limits -----------------------------------------------------------------
    max_body_bytes: int = Field(
        1_048_576,
        validation_alias=AliasChoices("SCHEDULES_MAX_BODY_BYTES"),
        ge=1,
        description="Largest accepted body.",
    )
    max_headers: int = Field(
        64,
        validation_alias=AliasChoices("SCHEDULES_MAX_HEADERS"),
        ge=0,
        description="Most headers an event may carry.",
    )
    max_header_bytes: int = Field(
        16_384,
        validation_alias=AliasChoices("SCHEDULES_MAX_HEADER_BYTES"),
        ge=1,
        description="Largest total size of an event's header names and values.",
    )

    # --- process ----------------------------------------------------------------------
    node_id: str = Field(
        "",
        validation_alias=AliasChoices("SCHEDULES_NODE_ID"),
        description="This process's name in execution results (default: host name).",
    )
    dev_dir: Path = Field(
        Path(".dev"),
        validation_alias=AliasChoices("SCHEDULES_DEV_DIR"),
        description="Where `dev` keeps the embedded services' state and logs.",
    )
    dev_redis_port: int = Field(
        6379,
        validation_alias=AliasChoices("SCHEDULES_DEV_REDIS_PORT"),
        ge=1,
        le=65535,
        description="Port of the Redis `dev` starts when REDIS_URL is unset.",
    )
    dev_kafka_port: int = Field(
        9092,
        validation_alias=AliasChoices("SCHEDULES_DEV_KAFKA_PORT"),
        ge=1,
        le=65535,
        description="Port of the broker `dev` starts when KAFKA_BOOTSTRAP_SERVERS is unset.",
    )
    dev_temporal_port: int = Field(
        7233,
        validation_alias=AliasChoices("SCHEDULES_DEV_TEMPORAL_PORT"),
        ge=1,
        le=65535,
        description="Port of the Temporal dev server `dev` starts when TEMPORAL_ADDRESS is unset.",
    )
    dev_temporal_ui_port: int = Field(
        8233,
        validation_alias=AliasChoices("SCHEDULES_DEV_TEMPORAL_UI_PORT"),
        ge=1,
        le=65535,
        description="Port of that Temporal dev server's web UI.",
    )
    dev_clickhouse_port: int = Field(
        8123,
        validation_alias=AliasChoices("SCHEDULES_DEV_CLICKHOUSE_PORT"),
        ge=0,
        le=65535,
        description="Loopback port on which `dev` serves ClickHouse's HTTP interface (reads "
        "and writes) over its embedded engine, for other local processes "
        "(CLICKHOUSE_URL=http://127.0.0.1:<port>/<db>); 0 = none.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        validation_alias=AliasChoices("SCHEDULES_LOG_LEVEL"),
        description="DEBUG, INFO, WARNING or ERROR.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        validation_alias=AliasChoices("SCHEDULES_LOG_FORMAT"),
        description="text (one line per message) or json (one JSON object per line: ts, "
        "level, logger, message, exception).",
    )
    log_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("SCHEDULES_LOG_FILE"),
        description="Also append the log to this file (its directory is created; reopened "
        "when logrotate moves it); unset = stderr only.",
    )

    @field_validator("delayed_topic", "dead_letter_topic")
    @classmethod
    def _legal_topic(cls, v: str) -> str:
        if not _TOPIC_RE.fullmatch(v) or v in {".", ".."}:
            raise ValueError(f"{v!r} is not a legal Kafka topic name")
        return v

    @field_validator("topic_rate_limits")
    @classmethod
    def _rate_limits(cls, v: str) -> str:
        parse_rate_limits(v)
        return v

    @field_validator("clickhouse_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of a ClickHouse server")
        return v

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _sentinel_addresses(cls, v: object) -> object:
        if isinstance(v, str) and not v.strip():
            return None
        if isinstance(v, str):
            sentinel_addresses(v)  # raises naming the bad entry
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("log_file", mode="before")
    @classmethod
    def _unset_if_empty(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

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
        if self.redis_cluster and self.redis_sentinels:
            raise ValueError(
                "SCHEDULES_REDIS_CLUSTER and SCHEDULES_REDIS_SENTINELS exclude each other"
            )
        if self.redis_cluster and self.redis_shards < 2:
            # One shard keeps the untagged names, whose keys lie in many slots.
            raise ValueError(
                "SCHEDULES_REDIS_CLUSTER needs SCHEDULES_REDIS_SHARDS of 2 or more "
                "(each shard's keys share one hash tag, so each script stays in one slot)"
            )
        return self

    @property
    def rate_limits(self) -> dict[str, RateLimit]:
        """SCHEDULES_TOPIC_RATE_LIMITS, parsed."""
        return parse_rate_limits(self.topic_rate_limits)

    @property
    def idempotent_producer(self) -> bool:
        return True if self.kafka_idempotent_producer is None else self.kafka_idempotent_producer


def sentinel_addresses(value: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (SCHEDULES_REDIS_SENTINELS) as (host, port) pairs."""
    out = []
    for entry in value.split(","):
        host, _, port = entry.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry.strip()!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return out


def env_name(field: str) -> str:
    """The environment variable that sets `field` (for error messages and docs)."""
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices)
    return str(alias.choices[0])


def default(field: str) -> Any:
    """A setting's default, for the few APIs used without Settings (publish_with_delay)."""
    return Settings.model_fields[field].default


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning a validation error into one naming each bad variable."""
    try:
        return Settings(**overrides)
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
