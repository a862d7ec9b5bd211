"""Every Prometheus metric the product exports, in one place.

Prefix `schedules_`, base units (seconds, bytes), `_total` counters, and only
low-cardinality labels: never a schedule_id, correlation_id or topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram


@dataclass(frozen=True, slots=True)
class ScrapedGauge:
    """A gauge read from Redis or ClickHouse when Prometheus scrapes (by
    scheduler.collector.StoreGauges), not set by the code: the queue depths describe the
    stores, not this process. Unlabelled; every process with a Redis client exports it,
    so rules take max() over the instances."""

    name: str
    documentation: str


EVENTS_SCHEDULED = Counter(
    "schedules_events_scheduled_total",
    "Events accepted for scheduling.",
    ["source", "tier"],  # source: python|http|kafka|replay|recurring; tier: hot|cold
)
RESCHEDULED = Counter(
    "schedules_rescheduled_total",
    "Pending events given a new version (reschedule, or on_conflict=replace).",
    ["from_tier", "to_tier"],  # hot|cold each
)
EVENTS_REJECTED = Counter(
    "schedules_events_rejected_total", "Events refused as invalid.", ["source"]
)
EVENTS_EXECUTED = Counter(
    "schedules_events_executed_total",
    "Delivery outcomes.",
    ["outcome"],  # success|retry|dead_letter|skipped
)
FIRING_LATENESS = Histogram(
    "schedules_firing_lateness_seconds",
    "Broker acknowledgement time minus scheduled time, on Redis's clock.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
EVENTS_THROTTLED = Counter(
    "schedules_events_throttled_total",
    "Due events set aside to wait for their topic's rate limit (each fires later, once).",
)
CLAIM_BATCH = Histogram(
    "schedules_claim_batch_events",
    "Events per claimed batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
REDIS_WRITES_UNREPLICATED = Counter(
    "schedules_redis_writes_unreplicated_total",
    "Hot-tier writes refused because fewer Redis replicas than "
    "SCHEDULES_REDIS_MIN_REPLICAS_ACK acknowledged them (each is retried).",
)
LEASES_REAPED = Counter(
    "schedules_leases_reaped_total", "Expired leases returned to pending (executor lost)."
)
DEAD_LETTERS = Counter(
    "schedules_dead_letters_total",
    "Messages written to the dead-letter topic.",
    ["stage"],  # ingest|publish
)
BREAKER_STATE = Gauge(
    "schedules_circuit_breaker_state", "Producer circuit breaker: 0 closed, 1 half-open, 2 open."
)
BREAKER_OPENED = Counter(
    "schedules_circuit_breaker_opened_total",
    "Times the producer circuit breaker opened (the broker looked down).",
)
INGEST_LAG = Gauge(
    "schedules_ingest_lag_messages",
    "Messages on the delayed topic not yet consumed by this consumer (its partitions).",
)
INGEST_BATCH_SECONDS = Histogram(
    "schedules_ingest_batch_seconds", "Time to store one consumed batch from the delayed topic."
)

GC_PAUSES = Histogram(
    "schedules_gc_pause_seconds",
    "Pauses of the Python garbage collector in a role process (scheduler.gcpause).",
    ["generation"],  # 0|1|2; 2 = a full collection
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)

# --- hot tier, read from Redis on scrape ---------------------------------------------------
REDIS_PENDING = ScrapedGauge(
    "schedules_redis_pending",
    "Events pending in Redis (incl. held by a pause or throttled by a rate limit), counted "
    "on scrape.",
)
IN_FLIGHT = ScrapedGauge(
    "schedules_in_flight", "Events claimed by an executor, not yet acked, counted on scrape."
)
PAUSES = ScrapedGauge("schedules_pauses", "Active pauses (all, per topic, priority threshold).")
HELD = ScrapedGauge("schedules_held", "Due events a topic or priority pause holds back.")
THROTTLED = ScrapedGauge(
    "schedules_throttled", "Due events waiting for their topic's rate limit, counted on scrape."
)

# --- cold tier ---------------------------------------------------------------------------
COLD_PENDING = ScrapedGauge(
    "schedules_cold_pending",
    "Schedules waiting in ClickHouse (status 'pending'), counted on scrape.",
)
SYNC_TRANSFERRED = Counter(
    "schedules_sync_transferred_total", "Cold schedules moved into Redis by the sync."
)
SYNC_DEMOTED = Counter(
    "schedules_sync_demoted_total",
    "Hot schedules moved back to ClickHouse (beyond a lowered immediate horizon).",
)
SYNC_SECONDS = Histogram(
    "schedules_sync_seconds",
    "Duration of one sync run.",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 180, 300),
)
SYNC_LAST_SUCCESS = Gauge(
    "schedules_sync_last_success_timestamp_seconds",
    "Unix time at which the last sync run finished without error.",
)
JOURNAL_FLUSH_SECONDS = Histogram(
    "schedules_journal_flush_seconds", "Time to write one batch of buffered journal rows."
)
JOURNAL_DROPPED = Counter(
    "schedules_journal_dropped_total",
    "Journal rows dropped because ClickHouse stayed unreachable and the buffer filled.",
    ["table"],  # event_schedules|schedule_execution_results
)
RECOVERED = Counter(
    "schedules_recovered_total",
    "Schedules recovery put right.",
    ["kind"],  # processing_requeued|processing_transferred|processing_finished|lease|rebuilt
)
CLEANED = Counter(
    "schedules_cleaned_total",
    "Rows and entries removed by cleanup.",
    ["kind"],  # executed|cancelled|skipped|error|hot_orphan
)

# --- orchestration (Temporal activities; the SDK's own metrics: SCHEDULES_TEMPORAL_METRICS_PORT)
JOB_RUNS = Counter(
    "schedules_job_runs_total",
    "Background job runs by Temporal activities.",
    ["job", "outcome"],  # job: sync|cleanup|recovery|rebuild; outcome: success|failure
)
JOB_SECONDS = Histogram(
    "schedules_job_seconds",
    "Duration of one background job activity run.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 180, 300, 900),
)

# --- HTTP API ----------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "schedules_http_requests_total",
    "HTTP API requests.",
    ["method", "route", "status"],  # route: the path template, never a schedule id
)
HTTP_SECONDS = Histogram(
    "schedules_http_request_seconds",
    "HTTP API request duration.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30),
)
