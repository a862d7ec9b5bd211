-- Unlock schedule_ids locked by lock_ids.lua with `token` (a lock that expired and was
-- taken by another caller is left alone).
-- ARGV: lock_prefix, token, schedule_id...
local prefix, token = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV do
  if redis.call('GET', prefix .. ARGV[i]) == token then
    redis.call('DEL', prefix .. ARGV[i])
    n = n + 1
  end
end
return n
