-- Claim up to `limit` due events, highest priority first, then earliest first.
-- Claimed events leave `scheduled` and enter `inflight` with a lease deadline; the whole
-- batch shares one fencing token that ack/release must present.
-- Pauses (HASH `paused`, see scheduler/hot/pause.py): `all` claims nothing; `priority`
-- skips levels below its threshold; `topic:<name>` holds that topic back. Due events a
-- pause holds back and that would otherwise block the scan (a paused topic anywhere,
-- paused negative priorities in the main set) move to `held`, at most `max_skip` per call;
-- resuming moves them back (unhold.lua).
-- KEYS: Keys.script_keys (named in prelude.lua)
-- ARGV: level_prefix, now, limit, lease_deadline, max_skip
-- Returns {token, blocked, id1, payload1, attempts1, id2, ...}: token 0 when nothing was
-- claimed; blocked 1 when nothing was claimed or held because a pause applies (the
-- executor then polls instead of spinning on a due head it may not take).
local level_prefix, now, room = ARGV[1], ARGV[2], tonumber(ARGV[3])
local deadline, max_skip = ARGV[4], tonumber(ARGV[5])
local token = nil
local out = {false, 0}

local below, topics, any_topic, pausing = nil, {}, false, false
local pauses = redis.call('HGETALL', paused)
for i = 1, #pauses, 2 do
  local name = pauses[i]
  pausing = true
  if name == 'all' then
    return {0, 1}
  elseif name == 'priority' then
    local ok, meta = pcall(cjson.decode, pauses[i + 1]) -- unreadable: pauses nothing
    if ok and type(meta) == 'table' then below = tonumber(meta.below) end
  elseif string.sub(name, 1, 6) == 'topic:' then
    topics[string.sub(name, 7)] = true
    any_topic = true
  end
end
local hold_room = max_skip

-- The topic is the second field of the payload (scheduler/codec.py): a msgpack array
-- [version, topic, ...] whose topic is a fixstr, str8 or str16.
local function topic_of(payload)
  local t = string.byte(payload, 3)
  if not t then return nil end
  if t >= 0xa0 and t <= 0xbf then return string.sub(payload, 4, 3 + t - 0xa0) end
  if t == 0xd9 then return string.sub(payload, 5, 4 + string.byte(payload, 4)) end
  if t == 0xda then
    local n = string.byte(payload, 4) * 256 + string.byte(payload, 5)
    return string.sub(payload, 6, 5 + n)
  end
  return nil
end

local function unindex(id, prio)
  redis.call('ZREM', scheduled, id)
  if prio ~= '0' then level_remove(level_prefix, id, prio) end
end

local function hold(id, score, prio)
  unindex(id, prio) -- its entry in `priorities` stays: unhold.lua re-indexes from it
  redis.call('ZADD', held, score, id)
  hold_room = hold_room - 1
end

local function take(id, score, prio)
  local payload = redis.call('HGET', payloads, id)
  if any_topic and payload and topics[topic_of(payload)] then return hold(id, score, prio) end
  if not token then token = redis.call('INCR', fence) end
  unindex(id, prio)
  if prio ~= '0' then redis.call('HDEL', priorities, id) end
  if not payload then return end -- orphaned entry: dropped above, nothing to fire
  redis.call('ZADD', inflight, deadline, id)
  redis.call('HSET', leases, id, token .. '|' .. score .. '|' .. prio)
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = redis.call('HGET', attempts, id) or '0'
  room = room - 1
end

local function open(prio)
  return hold_room > 0 and room > 0 and (below == nil or tonumber(prio) >= below)
end

local function take_level(prio)
  local due = redis.call('ZRANGEBYSCORE', level_prefix .. prio, '-inf', now,
                         'WITHSCORES', 'LIMIT', 0, room)
  for i = 1, #due, 2 do
    if room <= 0 or hold_room <= 0 then break end
    take(due[i], due[i + 1], prio)
  end
end

-- 1. Positive priorities, highest first.
for _, prio in ipairs(redis.call('ZREVRANGEBYSCORE', levels, '+inf', '(0')) do
  if not open(prio) then break end
  take_level(prio)
end
-- 2. Priority 0: the main set, skipping the (negative-priority) events it also holds;
--    those a priority pause holds back move aside so they cannot block this scan.
if open('0') then
  local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now,
                         'WITHSCORES', 'LIMIT', 0, room + max_skip)
  for i = 1, #due, 2 do
    if room <= 0 or hold_room <= 0 then break end
    local prio = redis.call('HGET', priorities, due[i])
    if not prio then
      take(due[i], due[i + 1], '0')
    elseif below and tonumber(prio) < below then
      hold(due[i], due[i + 1], prio)
    end
  end
end
-- 3. Negative priorities, highest first.
for _, prio in ipairs(redis.call('ZREVRANGEBYSCORE', levels, '(0', '-inf')) do
  if not open(prio) then break end
  take_level(prio)
end
out[1] = token or 0
if pausing and not token and hold_room == max_skip then out[2] = 1 end
return out
