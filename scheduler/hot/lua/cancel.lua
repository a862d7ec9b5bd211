-- Cancel one event. Returns 'pending' (removed before it fired), 'in_flight' (removed
-- while an executor held it: it may already have been published) or 'unknown'.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, id, throttled_prefix
local level_prefix, id, throttled_prefix = ARGV[1], ARGV[2], ARGV[3]
local state = 'unknown'
if redis.call('ZREM', scheduled, id) == 1 then
  state = 'pending'
  local prio = redis.call('HGET', priorities, id)
  if prio then
    redis.call('HDEL', priorities, id)
    level_remove(level_prefix, id, prio)
  end
elseif redis.call('ZREM', held, id) == 1 then -- paused: held aside, not indexed by level
  state = 'pending'
  redis.call('HDEL', priorities, id)
elseif unthrottle(throttled_prefix, id) == 1 then -- waiting for its topic's rate limit
  state = 'pending'
  redis.call('HDEL', priorities, id)
elseif redis.call('ZREM', inflight, id) == 1 then
  state = 'in_flight'
  redis.call('HDEL', leases, id)
end
if state ~= 'unknown' then
  redis.call('HDEL', payloads, id)
  redis.call('HDEL', attempts, id)
end
return state
