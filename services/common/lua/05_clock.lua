-- Clocks: how long a case has at a tier, and its deadline timer.

local function limit_ms(P, category, tier, scale)
  local minutes = tonumber(redis.call('HGET', P .. 'dir:cat:' .. category,
                                      'limit_' .. tier)) or 1440
  return math.floor(minutes * 60000 / scale)
end

-- Set the case's resolve-by for its tier, counted from from_ms, and (re)arm
-- its deadline timer. The caller saves the case.
local function start_clock(P, c, from_ms, scale)
  c.resolve_by = from_ms + limit_ms(P, c.category, tonumber(c.tier), scale)
  redis.call('ZADD', P .. 'timers', c.resolve_by, c.id .. '|deadline')
end
