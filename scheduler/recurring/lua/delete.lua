-- Forget a recurring schedule's definition if its version is `expected` ('' = any).
-- KEYS: recurring, recurring_versions, recurring_marks
-- ARGV: recurring_id, expected version
-- Returns 'ok', or the current version ('0' = none) when it is not `expected`.
local defs, versions, marks = KEYS[1], KEYS[2], KEYS[3]
local id, expected = ARGV[1], ARGV[2]
local current = redis.call('HGET', versions, id) or '0'
if current == '0' or (expected ~= '' and current ~= expected) then return current end
redis.call('HDEL', defs, id)
redis.call('HDEL', versions, id)
redis.call('HDEL', marks, id)
return 'ok'
