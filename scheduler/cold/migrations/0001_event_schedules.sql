-- Every accepted schedule, hot or cold, as a log of full-row versions.
--
-- Writers never UPDATE: a status change is a new complete row (same schedule_id and
-- scheduled_at, every other column carried over) with a higher `version`, inserted in
-- batches. ReplacingMergeTree(version) keeps the highest version per sorting key, but only
-- once background merges happen to run, so readers must not read this table directly:
-- they read the `event_schedules` view below, which applies FINAL.
--
-- ORDER BY (scheduled_at, schedule_id): the sync's due-window query ("pending, due before
-- now + horizon, oldest first, LIMIT n") then reads only the granules before the horizon
-- and can stop early, whatever the number of future schedules. The price: scheduled_at
-- is part of a schedule's identity and must never change between versions (a reschedule
-- is a cancel plus a new schedule). Lookups by schedule_id use the bloom filter index,
-- which is exact under FINAL because schedule_id is part of the sorting key.
--
-- `version`: must grow with every change of one schedule; the default (microseconds of
-- updated_at) is enough when each change stamps a new updated_at. Equal versions keep
-- the row inserted last. `is_deleted` = 1 is a tombstone: FINAL hides the schedule, so
-- retention cleanup is a batched insert too; `OPTIMIZE ... FINAL CLEANUP` reclaims space.
CREATE TABLE IF NOT EXISTS event_schedules_log
(
    schedule_id String,
    topic LowCardinality(String),
    entity_type LowCardinality(String),
    action LowCardinality(String),
    body String CODEC(ZSTD(1)),
    correlation_id String,
    headers String,
    scheduled_at DateTime64(6, 'UTC'),
    max_delay_seconds UInt32 DEFAULT 86400,
    priority Int32 DEFAULT 0,
    status Enum8('pending' = 1, 'processing' = 2, 'transferred' = 3, 'executed' = 4,
                 'cancelled' = 5, 'skipped' = 6, 'error' = 7),
    tier Enum8('hot' = 1, 'cold' = 2),
    attempts UInt16 DEFAULT 0,
    error Nullable(String),
    processing_started_at Nullable(DateTime64(6, 'UTC')),
    created_at DateTime64(6, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    version UInt64 DEFAULT toUnixTimestamp64Micro(updated_at),
    is_deleted UInt8 DEFAULT 0,
    INDEX idx_schedule_id schedule_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version, is_deleted)
-- Monthly: all versions of a schedule share a partition (scheduled_at is fixed), and
-- fully finished months can be dropped whole by cleanup.
PARTITION BY toYYYYMM(scheduled_at)
ORDER BY (scheduled_at, schedule_id);

-- The current state of every schedule, one row each: the runbook's SQL runs against
-- this verbatim. FINAL beat argMax/LIMIT 1 BY in our measurements and keeps WHERE on
-- non-key columns (status) after the merge of versions, which is what makes counts right.
CREATE VIEW IF NOT EXISTS event_schedules AS
SELECT * EXCEPT is_deleted
FROM event_schedules_log FINAL;
