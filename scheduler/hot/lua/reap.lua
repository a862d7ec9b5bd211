-- Return events whose lease expired (their executor died or stalled) to pending at
-- their original time, counting the lost delivery as an attempt.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- Expired by Redis's clock (TIME), as claim.lua set the deadlines: an executor whose
-- clock runs ahead cannot take another's leases early.
-- ARGV: level_prefix, limit
-- Returns the number of events returned.
local level_prefix = ARGV[1]
local time = redis.call('TIME')
local now = time[1] .. '.' .. string.format('%06d', tonumber(time[2]))
local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, ARGV[2])
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
