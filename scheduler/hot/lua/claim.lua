-- Claim up to `limit` due events, highest priority first, then earliest first.
-- Claimed events leave `scheduled` and enter `inflight` with a lease deadline; the whole
-- batch shares one fencing token that ack/release must present.
-- Pauses (HASH `paused`, see scheduler/hot/pause.py): `all` claims nothing; `priority`
-- skips levels below its threshold; `topic:<name>` holds that topic back. Due events a
-- pause holds back and that would otherwise block the scan (a paused topic anywhere,
-- paused negative priorities in the main set) move to `held`, at most `max_skip` per call;
-- resuming moves them back (unhold.lua).
-- Rate limits (scheduler/hot/ratelimit.py): the settings' (ARGV) overridden by those set
-- at run time (HASH `rate_limits`). Each limited topic has a token bucket (HASH
-- `rate_buckets`) refilled by Redis's clock, so every executor shares it. A due event of a
-- limited topic without a token moves to its topic's throttled set (`throttled_prefix ..
-- topic`, listed in `throttled_topics`), so it blocks nothing else; the topic's later
-- events queue behind it there, and each call first takes from those sets as many as the
-- buckets allow, earliest first. Limits stay cheap when none is set: two empty reads.
-- KEYS: Keys.script_keys (named in prelude.lua)
-- Due-ness and the lease deadline are decided by Redis's clock (TIME), never the
-- caller's: an executor whose clock is skewed neither fires early nor stalls. (Redis 7
-- replicates scripts by their effects, so reading TIME here is safe for replicas.)
-- ARGV: level_prefix, limit, lease_seconds, max_skip, throttled_prefix, token (0: take a
--       new one; else the token an earlier call of the same claim took, whose batch this
--       call continues), then the settings' limits as triples: topic, events per second,
--       burst ('' = default)
-- Returns {token, blocked, wait, throttled, now, id1, payload1, attempts1, id2, ...}: now
-- is Redis's time of the claim ('<s>.<µs>'); token 0
-- when nothing was claimed; blocked 1 when nothing was claimed or held because a pause
-- applies (the executor then polls instead of spinning on a due head it may not take);
-- wait: microseconds until the next token of a topic whose due events wait for one (-1:
-- none waits), so the executor sleeps instead of spinning; throttled: events this call
-- moved aside for a rate limit.
local level_prefix, room = ARGV[1], tonumber(ARGV[2])
local lease_seconds, max_skip = tonumber(ARGV[3]), tonumber(ARGV[4])
local throttled_prefix, continued = ARGV[5], tonumber(ARGV[6])
local time = redis.call('TIME')
local now = time[1] .. '.' .. string.format('%06d', tonumber(time[2]))
local clock = tonumber(time[1]) + tonumber(time[2]) / 1000000
local deadline = string.format('%.6f', clock + lease_seconds)
local token = nil
local out = {false, 0, -1, 0, now}

local below, topics, any_topic, pausing = nil, {}, false, false
local pauses = redis.call('HGETALL', paused)
for i = 1, #pauses, 2 do
  local name = pauses[i]
  pausing = true
  if name == 'all' then
    return {0, 1, -1, 0, now}
  elseif name == 'priority' then
    local ok, meta = pcall(cjson.decode, pauses[i + 1]) -- unreadable: pauses nothing
    if ok and type(meta) == 'table' then below = tonumber(meta.below) end
  elseif string.sub(name, 1, 6) == 'topic:' then
    topics[string.sub(name, 7)] = true
    any_topic = true
  end
end
local hold_room = max_skip

-- Rate limits: topic -> {rate, burst}.
local limits, limiting = {}, false
for i = 7, #ARGV, 3 do
  limits[ARGV[i]] = {tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])}
  limiting = true
end
local set_limits = redis.call('HGETALL', rate_limits)
for i = 1, #set_limits, 2 do
  local ok, meta = pcall(cjson.decode, set_limits[i + 1]) -- unreadable: limits nothing
  if ok and type(meta) == 'table' and tonumber(meta.rate) and tonumber(meta.rate) > 0 then
    limits[set_limits[i]] = {tonumber(meta.rate), tonumber(meta.burst)}
    limiting = true
  end
end

local buckets = {} -- topic -> {tokens, rate}, refilled once per call
local function bucket(topic)
  local b = buckets[topic]
  if b then return b end
  local rate, burst = limits[topic][1], limits[topic][2]
  local cap = math.max(1, burst or rate)
  local tokens = cap -- a bucket never used, or lost: full
  local state = redis.call('HGET', rate_buckets, topic)
  if state then
    local left, at = string.match(state, '^(%S+) (%S+)$')
    left, at = tonumber(left), tonumber(at)
    if left and at then tokens = math.min(cap, left + math.max(0, clock - at) * rate) end
  end
  b = {tokens, rate}
  buckets[topic] = b
  return b
end

local wait = nil -- seconds until the next token of a topic whose events wait for one
local function waits_for(b)
  local w = math.max(0, (1 - b[1]) / b[2])
  if not wait or w < wait then wait = w end
end

-- Index removals and leases are collected and written in bulk (prelude.lua): a few calls
-- per batch instead of a few per event. Removals are written before the next read of an
-- index (flush), leases at the end.
local unindexed, unlevelled = {}, {} -- ids to take out of `scheduled`; prio -> ids
local function unindex(id, prio)
  unindexed[#unindexed + 1] = id
  if prio ~= '0' then
    local ids = unlevelled[prio]
    if not ids then
      ids = {}
      unlevelled[prio] = ids
    end
    ids[#ids + 1] = id
  end
end

local function flush()
  if #unindexed > 0 then
    bulk('ZREM', scheduled, unindexed)
    unindexed = {}
  end
  for prio, ids in pairs(unlevelled) do
    local lkey = level_prefix .. prio
    bulk('ZREM', lkey, ids)
    if redis.call('ZCARD', lkey) == 0 then redis.call('ZREM', levels, prio) end
  end
  unlevelled = {}
end

local function hold(id, score, prio)
  unindex(id, prio) -- its entry in `priorities` stays: unhold.lua re-indexes from it
  redis.call('ZADD', held, score, id)
  hold_room = hold_room - 1
end

local backlog, listed = {}, {} -- topics with throttled events; those in throttled_topics
local function throttle(id, score, prio, topic)
  unindex(id, prio) -- its entry in `priorities` stays, as for a held event
  redis.call('ZADD', throttled_prefix .. topic, score, id)
  if not listed[topic] then
    redis.call('ZADD', throttled_topics, 0, topic)
    listed[topic] = true
  end
  backlog[topic] = true
  hold_room = hold_room - 1
  out[4] = out[4] + 1
end

-- Lease an event that is in no pending index any more (written by write_leases).
local leased, unprioritised, orphans = {}, {}, 0
local function lease(id, score, prio, payload)
  if prio ~= '0' then unprioritised[#unprioritised + 1] = id end
  if not payload then -- orphaned entry: dropped above, nothing to fire
    orphans = orphans + 1
    return
  end
  leased[#leased + 1] = {id, score, prio, payload}
  room = room - 1
end

local function write_leases()
  if #leased == 0 and orphans == 0 then return end
  token = continued > 0 and continued or redis.call('INCR', fence)
  if #unprioritised > 0 then bulk('HDEL', priorities, unprioritised) end
  if #leased == 0 then return end
  local ids, deadlines, values = {}, {}, {}
  for i, l in ipairs(leased) do
    ids[i] = l[1]
    deadlines[2 * i - 1], deadlines[2 * i] = deadline, l[1]
    values[2 * i - 1], values[2 * i] = l[1], token .. '|' .. l[2] .. '|' .. l[3]
  end
  bulk('ZADD', inflight, deadlines)
  bulk('HSET', leases, values)
  local tries = hmget(attempts, ids)
  for i, l in ipairs(leased) do
    out[#out + 1] = l[1]
    out[#out + 1] = l[4]
    out[#out + 1] = tries[i] or '0'
  end
end

-- The ids of a WITHSCORES reply.
local function ids_of(reply)
  local ids = {}
  for i = 1, #reply, 2 do ids[#ids + 1] = reply[i] end
  return ids
end

-- 0. The throttled sets, earliest first, as many as each topic's bucket allows (all
--    there is room for once its limit is gone); a paused topic's wait for its resume.
for _, topic in ipairs(redis.call('ZRANGE', throttled_topics, 0, -1)) do
  listed[topic] = true
  local tkey = throttled_prefix .. topic
  if not topics[topic] then
    local b, want = nil, room
    if limits[topic] then
      b = bucket(topic)
      want = math.min(room, math.floor(b[1]))
    end
    if want > 0 then
      local due = redis.call('ZRANGE', tkey, 0, want - 1, 'WITHSCORES')
      local ids = ids_of(due)
      if #ids > 0 then
        bulk('ZREM', tkey, ids)
        local prios, found = hmget(priorities, ids), hmget(payloads, ids)
        for i, id in ipairs(ids) do
          local score, prio = due[2 * i], prios[i] or '0'
          if below and tonumber(prio) < below then
            redis.call('ZADD', held, score, id) -- unhold.lua puts it back, indexed
            hold_room = hold_room - 1
          else
            if b then b[1] = b[1] - 1 end
            lease(id, score, prio, found[i])
          end
        end
      end
    end
    if redis.call('EXISTS', tkey) == 0 then
      redis.call('ZREM', throttled_topics, topic)
      listed[topic] = nil
    elseif b then
      waits_for(b)
    end
  end
  if listed[topic] then backlog[topic] = true end
end
local filtering = any_topic or limiting or next(backlog) ~= nil

local function take(id, score, prio, payload)
  if filtering and payload then
    local topic = topic_of(payload)
    if topic and topics[topic] then return hold(id, score, prio) end
    if topic and backlog[topic] then return throttle(id, score, prio, topic) end
    if topic and limits[topic] then
      local b = bucket(topic)
      if b[1] < 1 then
        waits_for(b)
        return throttle(id, score, prio, topic)
      end
      b[1] = b[1] - 1
    end
  end
  unindex(id, prio)
  lease(id, score, prio, payload)
end

local function open(prio)
  return hold_room > 0 and room > 0 and (below == nil or tonumber(prio) >= below)
end

local function take_level(prio)
  local due = redis.call('ZRANGEBYSCORE', level_prefix .. prio, '-inf', now,
                         'WITHSCORES', 'LIMIT', 0, room)
  local found = hmget(payloads, ids_of(due))
  for i = 1, #found do
    if room <= 0 or hold_room <= 0 then break end
    take(due[2 * i - 1], due[2 * i], prio, found[i])
  end
  flush()
end

-- 1. Positive priorities, highest first.
for _, prio in ipairs(redis.call('ZREVRANGEBYSCORE', levels, '+inf', '(0')) do
  if not open(prio) then break end
  take_level(prio)
end
-- 2. Priority 0: the main set, skipping the (negative-priority) events it also holds;
--    those a priority pause holds back move aside so they cannot block this scan. Read
--    `room` at a time (past those skipped), up to `room + max_skip` entries in all.
if open('0') then
  local skipped, budget = 0, room + max_skip
  while room > 0 and hold_room > 0 and budget > 0 do
    local want = math.min(room, budget)
    local due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now,
                           'WITHSCORES', 'LIMIT', skipped, want)
    local ids = ids_of(due)
    budget = budget - #ids
    local prios, found = hmget(priorities, ids), hmget(payloads, ids)
    for i, id in ipairs(ids) do
      if room <= 0 or hold_room <= 0 then break end
      local prio = prios[i]
      if not prio then
        take(id, due[2 * i], '0', found[i])
      elseif below and tonumber(prio) < below then
        hold(id, due[2 * i], prio)
      else
        skipped = skipped + 1
      end
    end
    flush()
    if #ids < want then break end
  end
end
-- 3. Negative priorities, highest first.
for _, prio in ipairs(redis.call('ZREVRANGEBYSCORE', levels, '(0', '-inf')) do
  if not open(prio) then break end
  take_level(prio)
end
write_leases()

for topic, b in pairs(buckets) do
  redis.call('HSET', rate_buckets, topic, string.format('%.6f %.6f', b[1], clock))
end
out[1] = token or 0
if pausing and not token and hold_room == max_skip then out[2] = 1 end
if wait then out[3] = math.ceil(wait * 1000000) end
return out
