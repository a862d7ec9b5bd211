-- Add events that are not already pending or in flight (schedule_id = idempotency key).
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, wakeup_channel, events: a msgpack array of
--       [id, scheduled_at (Unix s), priority, payload] (one blob: cheap to send and parse)
-- Returns one 1 (added) or 0 (already there) per event. Publishes the earliest new score
-- on the wakeup channel when it is earlier than the previous head, so sleeping
-- executors wake for it at once.
local level_prefix, channel = ARGV[1], ARGV[2]
local events = cmsgpack.unpack(ARGV[3])
local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
local head_score = head[2] and tonumber(head[2]) or math.huge
local earliest = math.huge
local out = {}
for i, ev in ipairs(events) do
  local id, score, prio = ev[1], ev[2], ev[3]
  if redis.call('HSETNX', payloads, id, ev[4]) == 1 then
    pend(level_prefix, id, score, prio)
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
