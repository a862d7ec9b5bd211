-- Store a recurring schedule's definition if its version is still `expected`
-- (compare-and-set: concurrent writers cannot interleave), and with a mark, reset what
-- is materialised for its new generation. The highest generation the id ever had is kept
-- (also after a delete), so that a definition created again gets ids never used.
-- KEYS: recurring, recurring_versions, recurring_marks, recurring_generations
-- ARGV: recurring_id, expected version ('0' = must not exist), new version, definition
--       JSON, mark ('' = keep), generation
-- Returns 'ok', or the current version ('0' = none) when it is not `expected`.
local defs, versions, marks, generations = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, expected, version, definition, mark = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local generation = tonumber(ARGV[6])
local current = redis.call('HGET', versions, id) or '0'
if current ~= expected then return current end
redis.call('HSET', defs, id, definition)
redis.call('HSET', versions, id, version)
if mark ~= '' then redis.call('HSET', marks, id, mark) end
if generation > tonumber(redis.call('HGET', generations, id) or '0') then
  redis.call('HSET', generations, id, ARGV[6])
end
return 'ok'
