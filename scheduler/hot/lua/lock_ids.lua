-- Lock schedule_ids for one caller while it checks both tiers and stores them: all or
-- none, so two callers locking overlapping sets in any order never deadlock.
-- KEYS: the lock keys, one per schedule_id (all of one shard: one hash tag).
-- ARGV: token, ttl_ms
-- Returns 1 if every key is now locked by `token`, 0 (nothing locked) if any was taken.
local token, ttl = ARGV[1], ARGV[2]
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], token, 'PX', ttl)
end
return 1
