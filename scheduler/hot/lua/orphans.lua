-- Remove hot-tier entries of ids that are neither pending nor in flight. Every hot-tier
-- script keeps "an entry exists => the id is in `scheduled`, `held`, its topic's throttled
-- set or `inflight`", so anything else is debris, e.g. left by the runbook's emergency
-- ZREMRANGEBYSCORE on scheduled_events.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, throttled_prefix, level ('' = look the id's level up in priorities),
--       id1, id2, ...
-- Returns how many ids had debris removed.
local level_prefix, throttled_prefix, level = ARGV[1], ARGV[2], ARGV[3]
local function throttled(id)
  local payload = redis.call('HGET', payloads, id)
  local topic = payload and topic_of(payload)
  return topic and redis.call('ZSCORE', throttled_prefix .. topic, id)
end
local n = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  if not redis.call('ZSCORE', scheduled, id) and not redis.call('ZSCORE', inflight, id)
     and not redis.call('ZSCORE', held, id) and not throttled(id) then
    local prio = level
    if prio == '' then prio = redis.call('HGET', priorities, id) end
    local removed = redis.call('HDEL', payloads, id) + redis.call('HDEL', attempts, id)
      + redis.call('HDEL', priorities, id) + redis.call('HDEL', leases, id)
    if prio then removed = removed + level_remove(level_prefix, id, prio) end
    if removed > 0 then n = n + 1 end
  end
end
return n
