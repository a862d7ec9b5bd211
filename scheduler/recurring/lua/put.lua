-- Store a recurring schedule's definition if its version is still `expected`
-- (compare-and-set: concurrent writers cannot interleave), and with a mark, reset what
-- is materialised for its new generation.
-- KEYS: recurring, recurring_versions, recurring_marks
-- ARGV: recurring_id, expected version ('0' = must not exist), new version, definition
--       JSON, mark ('' = keep)
-- Returns 'ok', or the current version ('0' = none) when it is not `expected`.
local defs, versions, marks = KEYS[1], KEYS[2], KEYS[3]
local id, expected, version, definition, mark = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local current = redis.call('HGET', versions, id) or '0'
if current ~= expected then return current end
redis.call('HSET', defs, id, definition)
redis.call('HSET', versions, id, version)
if mark ~= '' then redis.call('HSET', marks, id, mark) end
return 'ok'
