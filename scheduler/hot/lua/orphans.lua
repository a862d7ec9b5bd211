-- Remove hot-tier entries of ids that are neither pending nor in flight. Every hot-tier
-- script keeps "an entry exists => the id is in `scheduled`, `held` or `inflight`", so anything
-- else is debris, e.g. left by the runbook's emergency ZREMRANGEBYSCORE on scheduled_events.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, level ('' = look the id's level up in priorities), id1, id2, ...
-- Returns how many ids had debris removed.
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
    if prio then removed = removed + level_remove(level_prefix, id, prio) end
    if removed > 0 then n = n + 1 end
  end
end
return n
