-- Seconds until the earliest pending event is due by this Redis's clock (TIME), the
-- clock claim.lua decides by; false when nothing is pending. A script, so that on a Redis
-- Cluster it runs on the shard's node, with that node's clock.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- Returns the seconds as a string ('%.6f'; <= 0: due), or false.
local head = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
if not head[2] then return false end
local t = redis.call('TIME')
return string.format('%.6f', tonumber(head[2]) - (tonumber(t[1]) + tonumber(t[2]) / 1000000))
