-- Remove hot-tier entries of ids that are neither pending nor in flight. Every hot-tier
-- script keeps "an entry exists => the id is in `scheduled`, `held` or `inflight`", so anything
-- else is debris, e.g. left by the runbook's emergency ZREMRANGEBYSCORE on scheduled_events.
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts,
--       fence, held, paused
-- ARGV: level_prefix, level ('' = look the id's level up in priorities), id1, id2, ...
-- Returns how many ids had debris removed.
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, held = KEYS[5], KEYS[6], KEYS[7], KEYS[9]
local level_prefix, level = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if not redis.call('ZSCORE', scheduled, id) and not redis.call('ZSCORE', inflight, id)
     and not redis.call('ZSCORE', held, id) then
    local prio = level
    if prio == '' then prio = redis.call('HGET', priorities, id) end
    local removed = redis.call('HDEL', payloads, id) + redis.call('HDEL', attempts, id)
      + redis.call('HDEL', priorities, id) + redis.call('HDEL', leases, id)
    if prio then
      local lkey = level_prefix .. prio
      removed = removed + redis.call('ZREM', lkey, id)
      if redis.call('ZCARD', lkey) == 0 then redis.call('ZREM', levels, prio) end
    end
    if removed > 0 then n = n + 1 end
  end
end
return n
