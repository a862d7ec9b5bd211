-- Put up to `limit` held events (see claim.lua) back into `scheduled` and their priority
-- level, earliest first; claim.lua holds again any that a remaining pause still covers.
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts,
--       fence, held, paused
-- ARGV: level_prefix, limit, only_when_unpaused (1: do nothing while any pause is active)
-- Returns the number of events put back.
local scheduled, priorities, levels = KEYS[1], KEYS[3], KEYS[4]
local held, paused = KEYS[9], KEYS[10]
local level_prefix, limit = ARGV[1], tonumber(ARGV[2])
if ARGV[3] == '1' and redis.call('EXISTS', paused) == 1 then return 0 end
local due = redis.call('ZRANGE', held, 0, limit - 1, 'WITHSCORES')
for i = 1, #due, 2 do
  local id, score = due[i], due[i + 1]
  redis.call('ZREM', held, id)
  redis.call('ZADD', scheduled, score, id)
  local prio = redis.call('HGET', priorities, id)
  if prio then
    redis.call('ZADD', level_prefix .. prio, score, id)
    redis.call('ZADD', levels, prio, prio)
  end
end
return #due / 2
