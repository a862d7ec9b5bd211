-- One row per execution attempt outcome, written in batches by the analytics recorder.
-- The 90 days below is only the initial TTL: migrate() then applies
-- SCHEDULES_EXECUTION_HISTORY_TTL_DAYS with ALTER TABLE ... MODIFY TTL when it differs,
-- so this file stays plain SQL with a stable checksum.
--
-- Daily partitions plus ttl_only_drop_parts: expiry drops whole parts instead of
-- rewriting them. The sorting key starts with the hour because every runbook query
-- filters on a recent executed_at window.
CREATE TABLE IF NOT EXISTS schedule_execution_results
(
    execution_id String,
    schedule_id String,
    correlation_id String,
    topic LowCardinality(String),
    entity_type LowCardinality(String),
    action LowCardinality(String),
    scheduled_at DateTime64(6, 'UTC'),
    executed_at DateTime64(6, 'UTC'),
    delay_seconds Float64,
    status Enum8('success' = 1, 'error' = 2, 'timeout' = 3, 'skipped' = 4),
    error_message Nullable(String),
    retry_count UInt8 DEFAULT 0,
    processing_time_ms UInt32 DEFAULT 0,
    node_id LowCardinality(String),
    created_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(executed_at)
ORDER BY (toStartOfHour(executed_at), status, entity_type, action)
TTL executed_at + INTERVAL 90 DAY DELETE
SETTINGS ttl_only_drop_parts = 1;
