-- Claim up to `limit` due events, highest priority first, then earliest first.
-- Claimed events leave `scheduled` and enter `inflight` with a lease deadline; the whole
-- batch shares one fencing token that ack/release must present.
-- KEYS: Keys.script_keys: scheduled, payloads, priorities, levels, inflight, leases, attempts, fence
-- ARGV: level_prefix, now, limit, lease_deadline, max_skip
-- Returns {token, id1, payload1, attempts1, id2, ...} (just {token} when nothing is due).
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, fence = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local level_prefix, now, room = ARGV[1], ARGV[2], tonumber(ARGV[3])
local deadline, max_skip = ARGV[4], tonumber(ARGV[5])
local token = nil
local out = {false}

local function take(id, score, prio)
  if not token then token = redis.call('INCR', fence) end
  redis.call('ZREM', scheduled, id)
  if prio ~= '0' then
    redis.call('HDEL', priorities, id)
    local lkey = level_prefix .. prio
    redis.call('ZREM', lkey, id)
    if redis.call('ZCARD', lkey) == 0 then redis.call('ZREM', levels, prio) end
  end
  local payload = redis.call('HGET', payloads, id)
  if not payload then return end -- orphaned entry: dropped above, nothing to fire
  redis.call('ZADD', inflight, deadline, id)
  redis.call('HSET', leases, id, token .. '|' .. score .. '|' .. prio)
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = redis.call('HGET', attempts, id) or '0'
  room = room - 1
end

local function take_level(prio)
  local due = redis.call('ZRANGEBYSCORE', level_prefix .. prio, '-inf', now,
                         'WITHSCORES', 'LIMIT', 0, room)
  for i = 1, #due, 2 do take(due[i], due[i + 1], prio) end
end

-- 1. Positive priorities, highest first.
for _, prio in ipairs(redis.call('ZREVRANGEBYSCORE', levels, '+inf', '(0')) do
  if room <= 0 then break end
  take_level(prio)
end
-- 2. Priority 0: the main set, skipping the (negative-priority) events it also holds.
if room > 0 then
  local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now,
                         'WITHSCORES', 'LIMIT', 0, room + max_skip)
  for i = 1, #due, 2 do
    if room <= 0 then break end
    if redis.call('HEXISTS', priorities, due[i]) == 0 then take(due[i], due[i + 1], '0') end
  end
end
-- 3. Negative priorities, highest first.
for _, prio in ipairs(redis.call('ZREVRANGEBYSCORE', levels, '(0', '-inf')) do
  if room <= 0 then break end
  take_level(prio)
end
out[1] = token or 0
return out
