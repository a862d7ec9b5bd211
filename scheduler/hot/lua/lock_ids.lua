-- Lock schedule_ids for one caller while it checks both tiers and stores them: all or
-- none, so two callers locking overlapping sets in any order never deadlock.
-- KEYS[1]: the lock keys' prefix (of one shard: its hash tag routes the call; the lock
--          keys are KEYS[1] .. id)
-- ARGV: token, ttl_ms, ids (a msgpack array: one argument, not one per key)
-- Returns 1 if every key is now locked by `token`, 0 (nothing locked) if any was taken.
-- Locks live only on this primary, for a moment: not written to the AOF nor sent to
-- replicas (thousands of SETs and DELs per Kafka batch). Losing them with the primary is
-- what losing Redis's data does to locks held at that moment (scheduler.router).
redis.set_repl(redis.REPL_NONE)
local prefix, token, ttl = KEYS[1], ARGV[1], ARGV[2]
local ids = cmsgpack.unpack(ARGV[3])
for i = 1, #ids do
  if redis.call('EXISTS', prefix .. ids[i]) == 1 then return 0 end
end
for i = 1, #ids do
  redis.call('SET', prefix .. ids[i], token, 'PX', ttl)
end
return 1
