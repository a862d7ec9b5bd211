-- Add events that are not already pending or in flight (schedule_id = idempotency key).
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts,
--       fence, held, paused
-- ARGV: level_prefix, wakeup_channel, events: a msgpack array of
--       [id, scheduled_at (Unix s), priority, payload] (one blob: cheap to send and parse)
-- Returns one 1 (added) or 0 (already there) per event. Publishes the earliest new score
-- on the wakeup channel when it is earlier than the previous head, so sleeping
-- executors wake for it at once.
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, fence = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local level_prefix, channel = ARGV[1], ARGV[2]
local events = cmsgpack.unpack(ARGV[3])
local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
local head_score = head[2] and tonumber(head[2]) or math.huge
local earliest = math.huge
local out = {}
for i, ev in ipairs(events) do
  local id, score, prio = ev[1], ev[2], ev[3]
  if redis.call('HSETNX', payloads, id, ev[4]) == 1 then
    redis.call('ZADD', scheduled, score, id)
    if prio ~= 0 then
      redis.call('HSET', priorities, id, prio)
      redis.call('ZADD', level_prefix .. prio, score, id)
      redis.call('ZADD', levels, prio, prio)
    end
    if score < earliest then earliest = score end
    out[i] = 1
  else
    out[i] = 0
  end
end
if earliest < head_score then
  redis.call('PUBLISH', channel, tostring(earliest))
end
return out
