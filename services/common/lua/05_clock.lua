-- Clocks: how long a case has at a tier, in wall time or working time, its
-- reminder and its deadline, and the one timer that fires them.
--
-- Case time. Limits are in case minutes; time_scale says how many case
-- seconds pass per wall second (1 in production). The case clock is
-- anchored in P..'clock' {wall, case, scale}: case = case0 + (wall - wall0)
-- * scale. It is set on first use (case time = wall time then) and
-- re-anchored, continuously, when the scale changes; `gridcall clock --set`
-- moves it (demos and tests start on a chosen date). Working-time limits
-- walk the directory's calendar in case time; wall-time limits are plain
-- durations (limit * 60000 / scale), as before calendars existed.
--
-- One timer per case: member '<id>|deadline' in P..'timers', scored by the
-- next thing due for the case (its reminder, else its deadline, else the
-- review date of a parked case). A firing is fenced by the case's own
-- fields (remind_at, resolve_by, review_at), so a moved clock drops it.

local REMIND_DEFAULT = 0.75
local CAL_DAYS_MAX = 1500            -- a working limit never walks further
local DAY_MS = 86400000

-- The case clock's anchor; set on first use, re-anchored on a new scale.
local function clock_anchor(P, now, scale)
  local h = redis.call('HMGET', P .. 'clock', 'wall', 'case', 'scale')
  local wall, cs, sc = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
  if not wall then
    wall, cs, sc = now, now, scale
    redis.call('HSET', P .. 'clock', 'wall', wall, 'case', cs, 'scale', sc)
  elseif sc ~= scale then
    cs = math.floor(cs + (now - wall) * sc); wall = now; sc = scale
    redis.call('HSET', P .. 'clock', 'wall', wall, 'case', cs, 'scale', sc)
  end
  return wall, cs, sc
end

-- Wall ms -> case ms, and back (rounded up: never early).
local function to_case(P, t, scale)
  local wall, cs, sc = clock_anchor(P, t, scale)
  return cs + (t - wall) * sc
end

local function to_wall(P, x, scale, now)
  local wall, cs, sc = clock_anchor(P, now, scale)
  return math.ceil(wall + (x - cs) / sc)
end

-- Minutes after local midnight "HH:MM"-style spans of one day of the
-- calendar: { {from_ms, to_ms}, ... } sorted, or {} on a day off.
local function cal_spans(P, day)
  local wd = ((day + 3) % 7) + 1            -- 1970-01-01 was a Thursday
  local h = redis.call('HMGET', P .. 'dir:cal', 'd:' .. ymd(day), 'w' .. wd, 'makeup_weekday')
  local text
  if h[1] == 'off' then return {} end
  if h[1] == 'on' then
    text = redis.call('HGET', P .. 'dir:cal', 'w' .. (tonumber(h[3]) or 1))
  else
    text = h[2]
  end
  local spans = {}
  for a, b in string.gmatch(text or '', '(%d+)-(%d+)') do
    table.insert(spans, { tonumber(a) * 60000, tonumber(b) * 60000 })
  end
  return spans
end

-- Case ms after adding work_ms of working time to case ms t, walking the
-- calendar day by day in the street's local time; nil when the calendar
-- has no working time within CAL_DAYS_MAX days.
local function cal_add(P, t, work_ms)
  local off = (tonumber(redis.call('HGET', P .. 'dir:street', 'utc_offset_minutes')) or 0) * 60000
  local loc = t + off
  local day = math.floor(loc / DAY_MS)
  local pos = loc - day * DAY_MS
  local left = work_ms
  for _ = 1, CAL_DAYS_MAX do
    for _, s in ipairs(cal_spans(P, day)) do
      local from = math.max(pos, s[1])
      if from < s[2] then
        if left <= s[2] - from then return day * DAY_MS + from + left - off end
        left = left - (s[2] - from)
      end
    end
    day = day + 1; pos = 0
  end
  return nil
end

-- The category's clock at a tier: limit minutes, working time or not,
-- reminder fraction.
local function clock_rule(P, category, tier)
  local cat = dir_cat(P, category) or {}
  return tonumber(cat['limit_' .. tier]) or 1440, cat.clock == 'working',
         tonumber(cat.remind) or REMIND_DEFAULT
end

local function limit_ms(P, category, tier, scale)
  local minutes = clock_rule(P, category, tier)
  return math.floor(minutes * 60000 / scale)
end

-- (Re)arm the case's one timer at its next due time.
local function arm(P, c)
  local rb, ra = tonumber(c.resolve_by) or 0, tonumber(c.remind_at) or 0
  local due = (ra > 0 and c.light == '') and ra or rb
  redis.call('ZADD', P .. 'timers', I(due), c.id .. '|deadline')
end

-- Deadline (and reminder) for span_min case minutes of this case's kind
-- of clock from wall ms from_ms. Returns resolve_by, remind_at (0: none).
local function deadline_for(P, c, from_ms, minutes, working, fraction, scale)
  local rb, ra
  if working and redis.call('EXISTS', P .. 'dir:cal') == 1 then
    local start = to_case(P, from_ms, scale)
    local stop = cal_add(P, start, minutes * 60000)
    if stop then
      rb = to_wall(P, stop, scale, from_ms)
      if fraction > 0 then
        ra = to_wall(P, cal_add(P, start, math.floor(minutes * 60000 * fraction)), scale, from_ms)
      end
    end
  end
  if not rb then
    rb = from_ms + math.floor(minutes * 60000 / scale)
    if fraction > 0 then ra = from_ms + math.floor(minutes * 60000 * fraction / scale) end
  end
  if not ra or ra <= from_ms or ra >= rb then ra = 0 end
  return rb, ra
end

-- Set the case's resolve-by (and reminder) for its tier, counted from
-- from_ms (wall ms, Redis time), and (re)arm its timer. The caller's next
-- save writes the clock's fields (touched here).
local function start_clock(P, c, from_ms, scale)
  local minutes, working, fraction = clock_rule(P, c.category, tonumber(c.tier))
  c.resolve_by, c.remind_at = deadline_for(P, c, from_ms, minutes, working, fraction, scale)
  c.light = ''
  -- a wall clock is the common case: stored only when it is working time
  c.clock = working and 'working' or ''
  touch(c, 'resolve_by', 'remind_at', 'light', 'clock')
  arm(P, c)
end

-- Re-base the clock on an absolute deadline (wall ms): an extension. The
-- reminder falls at the category's fraction of the new span.
local function rebase_clock(P, c, now, rb)
  local _, _, fraction = clock_rule(P, c.category, tonumber(c.tier))
  c.resolve_by = rb
  c.remind_at = fraction > 0 and (now + math.floor((rb - now) * fraction)) or 0
  if c.remind_at <= now or c.remind_at >= rb then c.remind_at = 0 end
  c.light = ''
  touch(c, 'resolve_by', 'remind_at', 'light')
  arm(P, c)
end

-- clock_get(P, scale): Redis time, case time and the anchor. A read: the
-- clock keeps the scale the cluster runs at (a transition sets it); scale
-- only starts a clock that has no anchor yet.
local function clock_get(keys, a)
  local P, scale = a[1], tonumber(a[2]) or 1
  local now = now_ms()
  local h = redis.call('HMGET', P .. 'clock', 'wall', 'case', 'scale')
  local wall, cs, sc = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
  if not (wall and cs and sc) then wall, cs, sc = clock_anchor(P, now, scale) end
  local off = tonumber(redis.call('HGET', P .. 'dir:street', 'utc_offset_minutes')) or 0
  return ok({ now = now, case_now = cs + (now - wall) * sc, anchor_wall = wall,
              anchor_case = cs, scale = sc, utc_offset_minutes = off })
end

-- clock_set(P, scale, case_ms, principal): from now on, case time is case_ms
-- now and runs at scale. For demos and tests; cases keep their deadlines.
local function clock_set(keys, a)
  local P, scale, cs = a[1], tonumber(a[2]), tonumber(a[3])
  if not scale or scale <= 0 or not cs then return fail('BAD_VALUE', 'scale and case time needed') end
  local now = now_ms()
  redis.call('HSET', P .. 'clock', 'wall', now, 'case', cs, 'scale', scale)
  audit(P, a[4], '', 'clock.set', 'clock', string.format('case time %d at scale %s', cs, a[2]))
  return ok({ now = now, case_now = cs, scale = scale })
end

redis.register_function('gc_clock_get', clock_get)
redis.register_function('gc_clock_set', clock_set)

-- The grid worker's clock on a resolved case (verify-by): the category's
-- verify_minutes (given, or read) in wall time from from_ms, at the case's
-- own time scale.
-- Shares the case's one timer; the caller saves verify_by.
local function start_verify_clock(P, c, from_ms, minutes)
  minutes = minutes or tonumber((dir_cat(P, c.category) or {}).verify_minutes) or 1440
  c.verify_by = from_ms + math.floor(minutes * 60000 / (tonumber(c.scale) or 1))
  redis.call('ZADD', P .. 'timers', I(c.verify_by), c.id .. '|deadline')
end
