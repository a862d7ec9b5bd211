-- Lock schedule_ids for one caller while it checks both tiers and stores them: all or
-- none, so two callers locking overlapping sets in any order never deadlock.
-- KEYS: none (the lock keys are named from ARGV: one per schedule_id).
-- ARGV: lock_prefix, token, ttl_ms, schedule_id...
-- Returns 1 if every id is now locked by `token`, 0 (nothing locked) if any was taken.
local prefix, token, ttl = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do
  if redis.call('EXISTS', prefix .. ARGV[i]) == 1 then return 0 end
end
for i = 4, #ARGV do
  redis.call('SET', prefix .. ARGV[i], token, 'PX', ttl)
end
return 1
