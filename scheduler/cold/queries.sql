-- Every query the product runs on ClickHouse, by name, loaded once into
-- scheduler.cold.queries.QUERIES and sent by ColdStore (scheduler/cold/store.py), or by
-- the transport's connection checks (clickhouse.py). The schema is in migrations/ (with
-- migrate.py); operators' read-only SQL goes through cli/sql.py.
--
-- A block runs from its `-- name:` line to the next one; the comment lines at its top say
-- what it is for. In the SQL:
--   {name:Type}  a query parameter, bound by ClickHouse at each call;
--   $name        a piece: the block of that name (defined above it), put in at load time.
--
-- A schedule's times travel as integer microseconds (DateTime64(6) ticks, see records.py):
-- bound as Int64, turned into DateTime64 by fromUnixTimestamp64Micro.


-- === connection ==========================================================================

-- name: ping
SELECT 1

-- name: database_exists
-- One row if the database {db} exists (checked before CREATE DATABASE, which the user
-- may not be allowed).
SELECT 1 FROM system.databases WHERE name = {db:String}


-- === schedules: reads ====================================================================

-- name: schedule_columns
-- (piece) What reads select from `event_schedules`, in Schedule.from_row's order.
schedule_id, topic, entity_type, action, body, correlation_id, headers,
    toUnixTimestamp64Micro(scheduled_at), max_delay_seconds, priority, status, tier,
    attempts, error, toUnixTimestamp64Micro(processing_started_at),
    toUnixTimestamp64Micro(created_at), toUnixTimestamp64Micro(updated_at), version

-- name: key_after
-- (piece) Rows after the sorting key ({after_us}, {after_id}): one page after another.
(scheduled_at > fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')
    OR (scheduled_at = fromUnixTimestamp64Micro({after_us:Int64}, 'UTC')
        AND schedule_id > {after_id:String}))

-- name: in_status
-- Schedules in {status} after a key, earliest first (paging through one status).
SELECT $schedule_columns
FROM event_schedules
WHERE status = {status:String} AND $key_after
ORDER BY scheduled_at, schedule_id
LIMIT {limit:UInt64}

-- name: in_status_until
-- The same, due by {until}: the sync's window (pending), a sync's leftovers (processing).
SELECT $schedule_columns
FROM event_schedules
WHERE status = {status:String} AND $key_after
    AND scheduled_at <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')
ORDER BY scheduled_at, schedule_id
LIMIT {limit:UInt64}

-- name: find
-- Every current schedule with one of these ids (the bloom filter index finds them).
SELECT $schedule_columns
FROM event_schedules
WHERE schedule_id IN {ids:Array(String)}
ORDER BY scheduled_at, schedule_id
LIMIT {limit:UInt64}

-- name: dead_lettered
-- The schedules that ended dead-lettered ('error'), last changed in [{since}, {until}],
-- of one topic and one reason (the error's first word) where those are not NULL, the
-- newest first. An event fires after its time, so scheduled_at <= {until} too, which
-- lets the sorting key skip the parts scheduled later.
SELECT $schedule_columns
FROM event_schedules
WHERE status = 'error'
    AND updated_at BETWEEN fromUnixTimestamp64Micro({since:Int64}, 'UTC')
        AND fromUnixTimestamp64Micro({until:Int64}, 'UTC')
    AND scheduled_at <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')
    AND ({topic:Nullable(String)} IS NULL OR topic = {topic:Nullable(String)})
    AND ({reason:Nullable(String)} IS NULL
        OR startsWith(ifNull(error, ''), concat({reason:Nullable(String)}, ':')))
ORDER BY updated_at DESC, schedule_id
LIMIT {limit:UInt64}

-- name: cancelled_between
-- The keys of the cancelled schedules in a scheduled_at range.
SELECT toUnixTimestamp64Micro(scheduled_at), schedule_id
FROM event_schedules
WHERE scheduled_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, 'UTC')
        AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC')
    AND status = 'cancelled'

-- name: count_by_status
SELECT status, count()
FROM event_schedules
WHERE status IN {wanted:Array(String)}
GROUP BY status



-- === schedules: listing (GET /api/v1/schedules, scheduler/listing.py) ====================

-- name: list_filter
-- (piece) The listing's filters but the status: tier, topic, entity type, action (NULL:
-- any), and scheduled_at in [{from_us}, {to_us}).
({tier:Nullable(String)} IS NULL OR tier = {tier:Nullable(String)})
    AND ({topic:Nullable(String)} IS NULL OR topic = {topic:Nullable(String)})
    AND ({entity_type:Nullable(String)} IS NULL OR entity_type = {entity_type:Nullable(String)})
    AND ({action:Nullable(String)} IS NULL OR action = {action:Nullable(String)})
    AND scheduled_at >= fromUnixTimestamp64Micro({from_us:Int64}, 'UTC')
    AND scheduled_at < fromUnixTimestamp64Micro({to_us:Int64}, 'UTC')

-- name: listed_columns
-- (piece) schedule_columns without the body and headers (a listing shows neither, and
-- a page of 1,000 schedules with large bodies would be that much data).
schedule_id, topic, entity_type, action, '' AS body, correlation_id, '{}' AS headers,
    toUnixTimestamp64Micro(scheduled_at), max_delay_seconds, priority, status, tier,
    attempts, error, toUnixTimestamp64Micro(processing_started_at),
    toUnixTimestamp64Micro(created_at), toUnixTimestamp64Micro(updated_at), version

-- name: list
-- One page of the listing: schedules in {statuses} passing the filters, after a key,
-- earliest first (keyset paging on the sorting key, so pages stay put under inserts).
SELECT $listed_columns
FROM event_schedules
WHERE status IN {statuses:Array(String)} AND $list_filter AND $key_after
ORDER BY scheduled_at, schedule_id
LIMIT {limit:UInt64}

-- name: list_counts
-- How many schedules pass the listing's filters, by status (the status filter aside).
SELECT status, count()
FROM event_schedules
WHERE $list_filter
GROUP BY status


-- === schedules: new versions made by ClickHouse itself ===================================
-- No data passes through Python: ~5x faster than sending the rows back for a sync batch.

-- name: restamp_columns
-- (piece) The columns a new version written by INSERT ... SELECT sets.
schedule_id, topic, entity_type, action, body, correlation_id, headers, scheduled_at,
    max_delay_seconds, priority, status, tier, attempts, error, processing_started_at,
    created_at, updated_at, version

-- name: carried_columns
-- (piece) The columns such a version carries over unchanged, first in that order.
schedule_id, topic, entity_type, action, body, correlation_id, headers, scheduled_at,
    max_delay_seconds, priority

-- name: key_range
-- (piece) Rows with a sorting key in [({lo}, {lo_id}), ({hi}, {hi_id})].
scheduled_at BETWEEN fromUnixTimestamp64Micro({lo:Int64}, 'UTC')
        AND fromUnixTimestamp64Micro({hi:Int64}, 'UTC')
    AND (scheduled_at, schedule_id)
        >= (fromUnixTimestamp64Micro({lo:Int64}, 'UTC'), {lo_id:String})
    AND (scheduled_at, schedule_id)
        <= (fromUnixTimestamp64Micro({hi:Int64}, 'UTC'), {hi_id:String})

-- name: claim_range
-- Every pending schedule in a key range becomes {status} ('processing'), started at
-- {started} (which then names this claim).
INSERT INTO event_schedules_log ($restamp_columns)
SELECT $carried_columns, {status:String}, {tier:String}, attempts, NULL,
    fromUnixTimestamp64Micro({started:Int64}, 'UTC'), created_at, now64(6), {version:UInt64}
FROM event_schedules
WHERE status = 'pending' AND $key_range

-- name: transfer_claimed
-- The schedules the claim {started} took in a key range, still 'processing', become
-- {status} ('transferred').
INSERT INTO event_schedules_log ($restamp_columns)
SELECT $carried_columns, {status:String}, {tier:String}, attempts, NULL,
    processing_started_at, created_at, now64(6), {version:UInt64}
FROM event_schedules
WHERE status = 'processing'
    AND processing_started_at = fromUnixTimestamp64Micro({started:Int64}, 'UTC')
    AND $key_range


-- === cleanup =============================================================================

-- name: count_changed_before
-- How many schedules in each of {statuses} last changed before {cutoff}.
SELECT status, count()
FROM event_schedules
WHERE status IN {statuses:Array(String)}
    AND updated_at < fromUnixTimestamp64Micro({cutoff:Int64}, 'UTC')
GROUP BY status

-- name: tombstone_changed_before
-- Deletion tombstones (is_deleted = 1) for up to {limit} schedules in {status} last
-- changed before {cutoff}: FINAL hides them at once, merges reclaim the space.
INSERT INTO event_schedules_log
    (schedule_id, scheduled_at, status, tier, created_at, updated_at, version, is_deleted)
SELECT schedule_id, scheduled_at, status, tier, created_at, now64(6), {version:UInt64}, 1
FROM event_schedules
WHERE status = {status:String}
    AND updated_at < fromUnixTimestamp64Micro({cutoff:Int64}, 'UTC')
LIMIT {limit:UInt64}

-- name: months_before
-- The monthly partitions (YYYYMM) of the log before month {before}.
SELECT DISTINCT partition
FROM system.parts
WHERE database = currentDatabase() AND table = 'event_schedules_log' AND active
    AND toUInt32(partition) < {before:UInt32}

-- name: count_in_month
SELECT count() FROM event_schedules WHERE toYYYYMM(scheduled_at) = {month:UInt32}

-- name: drop_month
ALTER TABLE event_schedules_log DROP PARTITION {month:UInt32}


-- === analytics ===========================================================================

-- name: result_figures
-- (piece) The figures of a set of execution results (Figures.from_row's names).
count() AS total,
    countIf(status = 'success') AS successful,
    countIf(status = 'error') AS failed,
    countIf(status = 'timeout') AS timeouts,
    countIf(status = 'skipped') AS skipped,
    avg(delay_seconds) AS avg_delay_seconds,
    quantiles(0.5, 0.95, 0.99)(delay_seconds) AS q,
    avg(processing_time_ms) AS avg_processing_time_ms

-- name: hourly_figures
-- (piece) The same figures merged from hourly aggregate states (percentiles combined
-- from quantile states, not averaged from hourly percentiles).
countMerge(total_executions) AS total,
    countIfMerge(successful_executions) AS successful,
    countIfMerge(failed_executions) AS failed,
    countIfMerge(timeout_executions) AS timeouts,
    countIfMerge(skipped_executions) AS skipped,
    avgMerge(avg_delay_seconds) AS avg_delay_seconds,
    quantilesMerge(0.5, 0.95, 0.99)(delay_seconds_quantiles) AS q,
    avgMerge(avg_processing_time_ms) AS avg_processing_time_ms

-- name: summary
-- The results of the last {hours} hours, and the start of that window.
SELECT $result_figures, now64(6) - toIntervalHour({hours:UInt32}) AS since
FROM schedule_execution_results
WHERE executed_at >= now64(6) - toIntervalHour({hours:UInt32})

-- name: per_minute
-- Outcomes per minute of the last {minutes} minutes (the console's chart); minutes
-- without any are absent.
SELECT toStartOfMinute(executed_at) AS minute,
    countIf(status = 'success') AS fired,
    countIf(status IN ('error', 'timeout')) AS failed,
    countIf(status = 'skipped') AS skipped
FROM schedule_execution_results
WHERE executed_at >= now64(6) - toIntervalMinute({minutes:UInt32})
GROUP BY minute
ORDER BY minute

-- name: attempts_of
-- The execution results of one schedule (one row per delivery attempt's outcome) since
-- {since}, oldest first: the console's schedule page. {since} (its creation) keeps the
-- read to the days since then (the table is partitioned by day, sorted by hour).
SELECT toUnixTimestamp64Micro(executed_at) AS executed_us, status, delay_seconds,
    error_message, retry_count, processing_time_ms, node_id
FROM schedule_execution_results
WHERE executed_at >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')
    AND schedule_id = {schedule_id:String}
ORDER BY executed_at
LIMIT {limit:UInt32}

-- name: failing_most
-- The {top} entity types and actions with the most failures in the last {hours} hours.
SELECT entity_type, action, count() AS n, argMax(error_message, executed_at) AS last
FROM schedule_execution_results
WHERE executed_at >= now64(6) - toIntervalHour({hours:UInt32})
    AND status IN ('error', 'timeout')
GROUP BY entity_type, action
ORDER BY n DESC, entity_type, action
LIMIT {top:UInt32}

-- name: performance_window
-- (piece) The hours starting in [{start}, {end}), of one entity type, action and topic
-- where those are not NULL.
date BETWEEN toDate({start:DateTime64(6,'UTC')}) AND toDate({end:DateTime64(6,'UTC')})
    AND toDateTime(date, 'UTC') + toIntervalHour(hour) >= {start:DateTime64(6,'UTC')}
    AND toDateTime(date, 'UTC') + toIntervalHour(hour) < {end:DateTime64(6,'UTC')}
    AND ({entity_type:Nullable(String)} IS NULL OR entity_type = {entity_type:Nullable(String)})
    AND ({action:Nullable(String)} IS NULL OR action = {action:Nullable(String)})
    AND ({topic:Nullable(String)} IS NULL OR topic = {topic:Nullable(String)})

-- name: performance_hourly
SELECT toDateTime(date, 'UTC') + toIntervalHour(hour) AS hour_start, $hourly_figures
FROM schedule_performance_metrics
WHERE $performance_window
GROUP BY hour_start
ORDER BY hour_start

-- name: performance_totals
SELECT $hourly_figures
FROM schedule_performance_metrics
WHERE $performance_window


-- === recurring schedules' mirror =========================================================

-- name: recurring_definitions
-- Every recurring schedule's mirrored definition (its latest version; deleted ones are
-- hidden by FINAL), for putting them back into an emptied Redis.
SELECT recurring_id, definition
FROM recurring_schedules FINAL
ORDER BY recurring_id
