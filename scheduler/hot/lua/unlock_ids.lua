-- Unlock the keys lock_ids.lua locked with `token` (a lock that expired and was taken by
-- another caller is left alone).
-- KEYS: the lock keys. ARGV: token
local token = ARGV[1]
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == token then
    redis.call('DEL', KEYS[i])
    n = n + 1
  end
end
return n
