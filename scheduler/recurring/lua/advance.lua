-- Record that a generation's occurrences are materialised up to `until`, if that is
-- still the definition's generation (a change meanwhile reset the mark) and later than
-- what the mark says. A mark is "<generation> <since> <until>" (Unix s).
-- KEYS: recurring_marks
-- ARGV: recurring_id, generation, until
-- Returns 1 if the mark moved.
local marks = KEYS[1]
local id, generation, till = ARGV[1], ARGV[2], tonumber(ARGV[3])
local mark = redis.call('HGET', marks, id)
if not mark then return 0 end
local gen, since, current = string.match(mark, '^(%d+) (%-?%d+) (%-?%d+)$')
if gen ~= generation or tonumber(current) >= till then return 0 end
redis.call('HSET', marks, id, generation .. ' ' .. since .. ' ' .. ARGV[3])
return 1
