-- Recurring schedules' definitions, mirrored from Redis (their source of truth) after
-- every change, so that after Redis lost its data they can be put back
-- (`hybrid-scheduler recurring restore`). One row per change: the definition as the
-- product stores it (JSON), a tombstone (is_deleted = 1) when it was deleted.
--
-- `version`: microseconds of the mirror write. Writes of one definition are serialised
-- (they happen under its lock, each writing what Redis holds at that moment), so the
-- latest write is the current state; FINAL keeps it, and hides a tombstone.
CREATE TABLE IF NOT EXISTS recurring_schedules
(
    recurring_id String,
    definition String CODEC(ZSTD(1)),
    version UInt64,
    is_deleted UInt8 DEFAULT 0,
    updated_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY recurring_id;
