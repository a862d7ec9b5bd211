-- Put claimed events back as pending at a new time (retry backoff, or returned unfired).
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts,
--       fence, held, paused
-- ARGV: level_prefix, token, then (id, new_score, add_attempt 0|1) per event
-- Returns the number released; events whose lease is no longer ours are left alone.
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, fence = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local level_prefix, prefix = ARGV[1], ARGV[2] .. '|'
local n = 0
for i = 3, #ARGV, 3 do
  local id, score = ARGV[i], ARGV[i + 1]
  local lease = redis.call('HGET', leases, id)
  if lease and string.sub(lease, 1, #prefix) == prefix then
    local prio = string.match(lease, '|([^|]*)$')
    redis.call('ZREM', inflight, id)
    redis.call('HDEL', leases, id)
    redis.call('ZADD', scheduled, score, id)
    if prio ~= '0' then
      redis.call('HSET', priorities, id, prio)
      redis.call('ZADD', level_prefix .. prio, score, id)
      redis.call('ZADD', levels, prio, prio)
    end
    if ARGV[i + 2] == '1' then redis.call('HINCRBY', attempts, id, 1) end
    n = n + 1
  end
end
return n
