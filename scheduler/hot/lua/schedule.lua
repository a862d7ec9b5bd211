-- Add events that are not already pending or in flight (schedule_id = idempotency key).
-- KEYS: scheduled, payloads, priorities, levels
-- ARGV: level_prefix, wakeup_channel, then (id, score, priority, payload) per event
-- Returns one 1 (added) or 0 (already there) per event. Publishes the earliest new score
-- on the wakeup channel when it is earlier than the previous head, so sleeping
-- executors wake for it at once.
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local level_prefix, channel = ARGV[1], ARGV[2]
local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
local head_score = head[2] and tonumber(head[2]) or math.huge
local earliest = math.huge
local out = {}
for i = 3, #ARGV, 4 do
  local id, score, prio = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HSETNX', payloads, id, ARGV[i + 3]) == 1 then
    redis.call('ZADD', scheduled, score, id)
    if prio ~= '0' then
      redis.call('HSET', priorities, id, prio)
      redis.call('ZADD', level_prefix .. prio, score, id)
      redis.call('ZADD', levels, prio, prio)
    end
    local s = tonumber(score)
    if s < earliest then earliest = s end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if earliest < head_score then
  redis.call('PUBLISH', channel, tostring(earliest))
end
return out
