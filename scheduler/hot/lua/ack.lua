-- Forget events that were delivered (or dead-lettered), if the lease is still ours.
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts,
--       fence, held, paused
-- ARGV: token, id1, id2, ...
-- Returns the number acknowledged; a lease that expired and was re-claimed (another
-- token) is left alone.
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, fence = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local prefix = ARGV[1] .. '|'
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local lease = redis.call('HGET', leases, id)
  if lease and string.sub(lease, 1, #prefix) == prefix then
    redis.call('ZREM', inflight, id)
    redis.call('HDEL', leases, id)
    redis.call('HDEL', payloads, id)
    redis.call('HDEL', attempts, id)
    n = n + 1
  end
end
return n
