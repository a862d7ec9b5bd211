-- Return events whose lease expired (their executor died or stalled) to pending at
-- their original time, counting the lost delivery as an attempt.
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts,
--       fence, held, paused
-- ARGV: level_prefix, now, limit
-- Returns the number of events returned.
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, fence = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local level_prefix = ARGV[1]
local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(expired) do
  local lease = redis.call('HGET', leases, id)
  redis.call('ZREM', inflight, id)
  redis.call('HDEL', leases, id)
  if lease and redis.call('HEXISTS', payloads, id) == 1 then
    local _, score, prio = string.match(lease, '^([^|]*)|([^|]*)|([^|]*)$')
    redis.call('ZADD', scheduled, score, id)
    if prio ~= '0' then
      redis.call('HSET', priorities, id, prio)
      redis.call('ZADD', level_prefix .. prio, score, id)
      redis.call('ZADD', levels, prio, prio)
    end
    redis.call('HINCRBY', attempts, id, 1)
  end
end
return #expired
