"""The operator runbook's SQL (000_36713a9551533f3b.txt), copied verbatim.

Trailing blanks and all: the queries must work exactly as operators paste them.
"""

# ruff: noqa: W291

# --- event_schedules ----------------------------------------------------------------------
PENDING_BY_STATUS = """SELECT 
    status,
    count() as count,
    min(scheduled_at) as earliest,
    max(scheduled_at) as latest
FROM event_schedules 
WHERE status IN ('pending', 'processing')
GROUP BY status;"""
COUNT_PENDING = "SELECT count() FROM event_schedules WHERE status = 'pending'"
PENDING_TRANSFER = """SELECT 
    count() as pending_transfer,
    min(scheduled_at) as earliest_pending
FROM event_schedules 
WHERE status = 'pending' 
  AND scheduled_at <= now() + INTERVAL 1 HOUR;"""
TABLE_LOCKS = "SELECT * FROM system.processes WHERE query LIKE '%event_schedules%';"
STUCK = """SELECT *
FROM event_schedules 
WHERE status = 'processing' 
  AND processing_started_at < now() - INTERVAL 1 HOUR;"""
ERROR_DISTRIBUTION = """SELECT 
    error,
    count() as count
FROM event_schedules 
WHERE status = 'error'
GROUP BY error
ORDER BY count DESC;"""

# --- schedule_execution_results -----------------------------------------------------------
RECENT_PERFORMANCE = """SELECT 
    toStartOfHour(executed_at) as hour,
    count() as total_executions,
    countIf(status = 'success') as successful,
    countIf(status = 'error') as failed,
    avg(processing_time_ms) as avg_processing_ms,
    quantile(0.95)(delay_seconds) as p95_delay
FROM schedule_execution_results 
WHERE executed_at >= now() - INTERVAL 24 HOUR
GROUP BY hour
ORDER BY hour DESC;"""
ERROR_PATTERNS = """SELECT 
    entity_type,
    action,
    count() as error_count,
    groupArray(error_message) as errors
FROM schedule_execution_results 
WHERE status = 'error' 
  AND executed_at >= now() - INTERVAL 1 HOUR
GROUP BY entity_type, action
ORDER BY error_count DESC;"""
WEEKLY_REVIEW = """SELECT 
    toStartOfWeek(executed_at) as week,
    count() as total_executions,
    countIf(status = 'success') / count() * 100 as success_rate,
    avg(processing_time_ms) as avg_processing_ms,
    quantile(0.95)(delay_seconds) as p95_delay_seconds
FROM schedule_execution_results 
WHERE executed_at >= now() - INTERVAL 4 WEEK
GROUP BY week
ORDER BY week DESC;"""
