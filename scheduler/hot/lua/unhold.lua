-- Put up to `limit` held events (see claim.lua) back into `scheduled` and their priority
-- level, earliest first; claim.lua holds again any that a remaining pause still covers.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, limit, only_when_unpaused (1: do nothing while any pause is active)
-- Returns the number of events put back.
local level_prefix, limit = ARGV[1], tonumber(ARGV[2])
if ARGV[3] == '1' and redis.call('EXISTS', paused) == 1 then return 0 end
local due = redis.call('ZRANGE', held, 0, limit - 1, 'WITHSCORES')
for i = 1, #due, 2 do
  local id, score = due[i], due[i + 1]
  redis.call('ZREM', held, id)
  redis.call('ZADD', scheduled, score, id)
  local prio = redis.call('HGET', priorities, id)
  if prio then level_add(level_prefix, id, score, prio) end
end
return #due / 2
