-- Put claimed events back as pending at a new time (retry backoff, or returned unfired).
-- KEYS: Keys.script_keys (named in prelude.lua)
-- The new time is a delay after Redis's clock (TIME), not a time the caller computed.
-- ARGV: level_prefix, token, then (id, delay in seconds, add_attempt 0|1) per event
-- Returns the number released; events whose lease is no longer ours are left alone.
local level_prefix, prefix = ARGV[1], ARGV[2] .. '|'
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local n = 0
for i = 3, #ARGV, 3 do
  local id, score = ARGV[i], string.format('%.6f', now + tonumber(ARGV[i + 1]))
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
