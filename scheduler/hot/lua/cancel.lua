-- Cancel one event. Returns 'pending' (removed before it fired), 'in_flight' (removed
-- while an executor held it: it may already have been published) or 'unknown'.
-- With `at`, only the event stored for that time (its score, or its lease's) is
-- cancelled: a sync taking back a version it moved leaves a rescheduled one alone.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, id, throttled_prefix[, at (Unix s)]
local level_prefix, id, throttled_prefix = ARGV[1], ARGV[2], ARGV[3]
local at = tonumber(ARGV[4] or '')
local function other(score)
  return at ~= nil and tonumber(score) ~= at
end
local state = 'unknown'
local score = redis.call('ZSCORE', scheduled, id)
local held_score = not score and redis.call('ZSCORE', held, id)
local payload = redis.call('HGET', payloads, id)
local tkey = payload and topic_of(payload) and (throttled_prefix .. topic_of(payload))
if score then
  if other(score) then return 'unknown' end
  redis.call('ZREM', scheduled, id)
  state = 'pending'
  local prio = redis.call('HGET', priorities, id)
  if prio then
    redis.call('HDEL', priorities, id)
    level_remove(level_prefix, id, prio)
  end
elseif held_score then -- paused: held aside, not indexed by level
  if other(held_score) then return 'unknown' end
  redis.call('ZREM', held, id)
  state = 'pending'
  redis.call('HDEL', priorities, id)
elseif tkey and redis.call('ZSCORE', tkey, id) then -- waiting for its topic's rate limit
  if other(redis.call('ZSCORE', tkey, id)) then return 'unknown' end
  redis.call('ZREM', tkey, id)
  state = 'pending'
  redis.call('HDEL', priorities, id)
elseif redis.call('ZSCORE', inflight, id) then
  local lease = redis.call('HGET', leases, id) or ''
  if other(string.match(lease, '^[^|]*|([^|]*)|') or '') then return 'unknown' end
  redis.call('ZREM', inflight, id)
  state = 'in_flight'
  redis.call('HDEL', leases, id)
end
if state ~= 'unknown' then
  redis.call('HDEL', payloads, id)
  redis.call('HDEL', attempts, id)
end
return state
