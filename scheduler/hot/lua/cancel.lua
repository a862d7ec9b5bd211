-- Cancel one event. Returns 'pending' (removed before it fired), 'in_flight' (removed
-- while an executor held it: it may already have been published) or 'unknown'.
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts,
--       fence, held, paused
-- ARGV: level_prefix, id
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, held = KEYS[5], KEYS[6], KEYS[7], KEYS[9]
local level_prefix, id = ARGV[1], ARGV[2]
local state = 'unknown'
if redis.call('ZREM', scheduled, id) == 1 then
  state = 'pending'
  local prio = redis.call('HGET', priorities, id)
  if prio then
    redis.call('HDEL', priorities, id)
    local lkey = level_prefix .. prio
    redis.call('ZREM', lkey, id)
    if redis.call('ZCARD', lkey) == 0 then redis.call('ZREM', levels, prio) end
  end
elseif redis.call('ZREM', held, id) == 1 then -- paused: held aside, not indexed by level
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
