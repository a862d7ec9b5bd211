-- Put before every hot-tier script that takes Keys.script_keys (HotStore loads them so):
-- the keys by name, and the upkeep of the priority index the scripts share.
-- KEYS: scheduled, payloads, priorities, levels, inflight, leases, attempts, fence, held,
--       paused, rate_limits, rate_buckets, throttled_topics
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, fence = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local held, paused = KEYS[9], KEYS[10]
local rate_limits, rate_buckets, throttled_topics = KEYS[11], KEYS[12], KEYS[13]

-- The topic is the second field of a payload (scheduler/codec.py): a msgpack array
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

-- Take `id` out of its topic's throttled set (events waiting for the topic's rate limit,
-- see claim.lua), if it is there; returns 1 if it was.
local function unthrottle(throttled_prefix, id)
  local payload = redis.call('HGET', payloads, id)
  local topic = payload and topic_of(payload)
  if not topic then return 0 end
  return redis.call('ZREM', throttled_prefix .. topic, id)
end

-- The priority index: a pending event whose priority is not 0 is also in the ZSET
-- `level_prefix .. prio` (id -> scheduled time), and `levels` holds every priority that
-- has such a set.

-- Add `id` at `score` to its priority's set.
local function level_add(level_prefix, id, score, prio)
  redis.call('ZADD', level_prefix .. prio, score, id)
  redis.call('ZADD', levels, prio, prio)
end

-- Take `id` out of its priority's set (and the priority out of `levels` once its set is
-- empty); returns 1 if it was there.
local function level_remove(level_prefix, id, prio)
  local lkey = level_prefix .. prio
  local n = redis.call('ZREM', lkey, id)
  if redis.call('ZCARD', lkey) == 0 then redis.call('ZREM', levels, prio) end
  return n
end

-- Make `id` pending at `score`: in `scheduled`, and indexed under its priority unless
-- that is 0 (prio: a number, or a string from a lease).
local function pend(level_prefix, id, score, prio)
  redis.call('ZADD', scheduled, score, id)
  if prio ~= 0 and prio ~= '0' then
    redis.call('HSET', priorities, id, prio)
    level_add(level_prefix, id, score, prio)
  end
end

-- Bulk commands: one call for many ids costs about what one call for one id costs, so the
-- scripts that move a batch read and write it with a few calls, not a few per event.
-- Chunked, since Lua's unpack() takes at most a few thousand values.
local BULK = 2000 -- an even number: pairs (score, member; field, value) stay together

-- `cmd key items...` in chunks (items: a flat list; pairs for ZADD and HSET).
local function bulk(cmd, key, items)
  for i = 1, #items, BULK do
    redis.call(cmd, key, unpack(items, i, math.min(i + BULK - 1, #items)))
  end
end

-- HMGET of `fields` (the replies, in order; false where absent).
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, BULK do
    local got = redis.call('HMGET', key, unpack(fields, i, math.min(i + BULK - 1, #fields)))
    for j = 1, #got do out[#out + 1] = got[j] end
  end
  return out
end
