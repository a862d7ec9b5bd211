-- Forget events that were delivered (or dead-lettered), if the lease is still ours.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: token, id1, id2, ...
-- Returns the number acknowledged; a lease that expired and was re-claimed (another
-- token) is left alone.
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
