-- Forget events that were delivered (or dead-lettered), if the lease is still ours.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: token, id1, id2, ...
-- Returns the number acknowledged; a lease that expired and was re-claimed (another
-- token) is left alone.
local prefix = ARGV[1] .. '|'
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local held = hmget(leases, ids)
local ours = {}
for i = 1, #ids do
  local lease = held[i]
  if lease and string.sub(lease, 1, #prefix) == prefix then ours[#ours + 1] = ids[i] end
end
if #ours > 0 then
  bulk('ZREM', inflight, ours)
  bulk('HDEL', leases, ours)
  bulk('HDEL', payloads, ours)
  bulk('HDEL', attempts, ours)
end
return #ours
