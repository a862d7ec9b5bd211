-- Put before every hot-tier script that takes Keys.script_keys (HotStore loads them so):
-- the keys by name, and the upkeep of the priority index the scripts share.
-- KEYS: scheduled, payloads, priorities, levels, inflight, leases, attempts, fence, held,
--       paused
local scheduled, payloads, priorities, levels = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local inflight, leases, attempts, fence = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local held, paused = KEYS[9], KEYS[10]

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
