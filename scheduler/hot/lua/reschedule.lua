-- Give one pending event a new time, payload and priority in one step (its schedule_id
-- stays). Refuses an event an executor holds: what it fires is then the old version.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, wakeup_channel, throttled_prefix, id, scheduled_at (Unix s),
--       priority, payload, add ('1': store the event when Redis does not hold it at all)
-- Returns 'rescheduled' (it was pending: waiting, held by a pause, or throttled),
-- 'added', 'in_flight' or 'unknown' (nothing changed). Publishes the new time on the
-- wakeup channel when it is earlier than the head, so sleeping executors wake for it
-- (as schedule.lua does).
local level_prefix, channel, throttled_prefix, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local score, prio, payload, add = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
if redis.call('ZSCORE', inflight, id) then return 'in_flight' end
local state = 'rescheduled'
if redis.call('ZREM', scheduled, id) == 1 then
  local old = redis.call('HGET', priorities, id)
  if old then
    redis.call('HDEL', priorities, id)
    level_remove(level_prefix, id, old)
  end
elseif redis.call('ZREM', held, id) == 1 -- paused: held aside, not indexed by level
    or unthrottle(throttled_prefix, id) == 1 then -- waiting for its topic's rate limit
  redis.call('HDEL', priorities, id)
elseif add == '1' then
  state = 'added'
  redis.call('HDEL', attempts, id) -- debris of an earlier event under this id
else
  return 'unknown'
end
local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
local head_score = head[2] and tonumber(head[2]) or math.huge
redis.call('HSET', payloads, id, payload)
pend(level_prefix, id, score, prio)
if score < head_score then
  redis.call('PUBLISH', channel, tostring(score))
end
return state
