"""Every Prometheus metric the product exports, in one place.

Prefix `schedules_`, base units (seconds, bytes), `_total` counters, and only
low-cardinality labels: never a schedule_id, correlation_id or topic.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_SCHEDULED = Counter(
    "schedules_events_scheduled_total",
    "Events accepted for scheduling.",
    ["source", "tier"],  # source: python|http|kafka; tier: hot|cold
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
    "Broker acknowledgement time minus scheduled time.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CLAIM_BATCH = Histogram(
    "schedules_claim_batch_events",
    "Events per claimed batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
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
INGEST_BATCH_SECONDS = Histogram(
    "schedules_ingest_batch_seconds", "Time to store one consumed batch from the delayed topic."
)
