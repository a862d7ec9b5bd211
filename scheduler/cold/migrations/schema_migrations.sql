-- Bootstrap table of scheduler.cold.migrate (not a numbered migration): one row per
-- applied migration file. ReplacingMergeTree so that two migrators racing, or a rerun
-- after a crash between applying and recording, still leave one row per name.
CREATE TABLE IF NOT EXISTS schema_migrations
(
    name String,
    checksum String,
    applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY name
