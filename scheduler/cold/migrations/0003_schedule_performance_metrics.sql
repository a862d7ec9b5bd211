-- Hourly execution metrics per (entity_type, action, topic), kept for a year, filled by
-- a materialized view on every insert into schedule_execution_results (so they outlive
-- that table's shorter TTL).
--
-- Why AggregatingMergeTree and not the design doc's SummingMergeTree: counts and sums can
-- be added up across rows, but percentiles cannot (the p95 of two hours is not a
-- function of the two hourly p95s). So each row keeps aggregate *states*; a reader merges
-- the states of any set of rows - one hour, a day, one topic or all - and gets exact
-- counts and correctly combined p50/p95/p99 (quantiles: reservoir-sampled, exact below
-- 8192 values per state, like the runbook's quantile()). Averages are avg states for the
-- same reason. Read with the -Merge combinators, or the finished view below.
CREATE TABLE IF NOT EXISTS schedule_performance_metrics
(
    date Date,
    hour UInt8,
    entity_type LowCardinality(String),
    action LowCardinality(String),
    topic LowCardinality(String),
    total_executions AggregateFunction(count),
    successful_executions AggregateFunction(countIf, UInt8),
    failed_executions AggregateFunction(countIf, UInt8),
    timeout_executions AggregateFunction(countIf, UInt8),
    skipped_executions AggregateFunction(countIf, UInt8),
    avg_delay_seconds AggregateFunction(avg, Float64),
    avg_processing_time_ms AggregateFunction(avg, UInt32),
    delay_seconds_quantiles AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(date)
ORDER BY (date, hour, entity_type, action, topic)
TTL date + INTERVAL 1 YEAR DELETE;

CREATE MATERIALIZED VIEW IF NOT EXISTS schedule_performance_metrics_mv
TO schedule_performance_metrics
AS SELECT
    toDate(executed_at) AS date,
    toHour(executed_at) AS hour,
    entity_type,
    action,
    topic,
    countState() AS total_executions,
    countIfState(status = 'success') AS successful_executions,
    countIfState(status = 'error') AS failed_executions,
    countIfState(status = 'timeout') AS timeout_executions,
    countIfState(status = 'skipped') AS skipped_executions,
    avgState(delay_seconds) AS avg_delay_seconds,
    avgState(processing_time_ms) AS avg_processing_time_ms,
    quantilesState(0.5, 0.95, 0.99)(delay_seconds) AS delay_seconds_quantiles
FROM schedule_execution_results
GROUP BY date, hour, entity_type, action, topic;

-- The design doc's plain columns, one row per hour and key, states merged. For windows
-- longer than an hour, merge the states of schedule_performance_metrics directly instead
-- of averaging these rows.
CREATE VIEW IF NOT EXISTS schedule_performance_hourly AS
SELECT
    date,
    hour,
    entity_type,
    action,
    topic,
    countMerge(total_executions) AS total_executions,
    countIfMerge(successful_executions) AS successful_executions,
    countIfMerge(failed_executions) AS failed_executions,
    countIfMerge(timeout_executions) AS timeout_executions,
    countIfMerge(skipped_executions) AS skipped_executions,
    avgMerge(avg_delay_seconds) AS avg_delay_seconds,
    avgMerge(avg_processing_time_ms) AS avg_processing_time_ms,
    quantilesMerge(0.5, 0.95, 0.99)(delay_seconds_quantiles) AS delay_quantiles,
    delay_quantiles[1] AS p50_delay_seconds,
    delay_quantiles[2] AS p95_delay_seconds,
    delay_quantiles[3] AS p99_delay_seconds
FROM schedule_performance_metrics
GROUP BY date, hour, entity_type, action, topic;
