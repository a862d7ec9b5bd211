-- Put claimed events back as pending at a new time (retry backoff, or returned unfired).
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, token, then (id, new_score, add_attempt 0|1) per event
-- Returns the number released; events whose lease is no longer ours are left alone.
local level_prefix, prefix = ARGV[1], ARGV[2] .. '|'
local n = 0
for i = 3, #ARGV, 3 do
  local id, score = ARGV[i], ARGV[i + 1]
  local lease = redis.call('HGET', leases, id)
  if lease and string.sub(lease, 1, #prefix) == prefix then
    local prio = string.match(lease, '|([^|]*)$')
    redis.call('ZREM', inflight, id)
    redis.call('HDEL', leases, id)
    pend(level_prefix, id, score, prio)
    if ARGV[i + 2] == '1' then redis.call('HINCRBY', attempts, id, 1) end
    n = n + 1
  end
end
return n
