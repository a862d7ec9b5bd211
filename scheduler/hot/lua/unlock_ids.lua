-- Unlock the keys lock_ids.lua locked with `token` (a lock that expired and was taken by
-- another caller is left alone).
-- KEYS[1]: the lock keys' prefix. ARGV: token, ids (a msgpack array)
-- Locks live only on this primary, for a moment: not written to the AOF nor sent to
-- replicas (thousands of SETs and DELs per Kafka batch). Losing them with the primary is
-- what losing Redis's data does to locks held at that moment (scheduler.router).
redis.set_repl(redis.REPL_NONE)
local prefix, token = KEYS[1], ARGV[1]
local ids = cmsgpack.unpack(ARGV[2])
local n = 0
for i = 1, #ids do
  local key = prefix .. ids[i]
  if redis.call('GET', key) == token then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
