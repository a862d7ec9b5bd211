-- Return events whose lease expired (their executor died or stalled) to pending at
-- their original time, counting the lost delivery as an attempt.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, now, limit
-- Returns the number of events returned.
local level_prefix = ARGV[1]
local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(expired) do
  local lease = redis.call('HGET', leases, id)
  redis.call('ZREM', inflight, id)
  redis.call('HDEL', leases, id)
  if lease and redis.call('HEXISTS', payloads, id) == 1 then
    local _, score, prio = string.match(lease, '^([^|]*)|([^|]*)|([^|]*)$')
    pend(level_prefix, id, score, prio)
    redis.call('HINCRBY', attempts, id, 1)
  end
end
return #expired
