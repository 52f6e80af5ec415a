#!lua name=gridcall
-- gridcall transitions: each function is one atomic step that checks the
-- case's state and version, updates it, appends to its timeline and the
-- event stream, moves counters and queues follow-up work (DESIGN.md §5).
-- Every function takes the key prefix as ARGV[1] and returns JSON.
--
-- The library is the files of this folder in name order, joined at build
-- time (Redis loads one library per FUNCTION LOAD); a file may use the
-- locals of the files before it. This one holds the shared helpers.

local TIERS = { 'GRID', 'COMMUNITY', 'STREET', 'DISTRICT' }
local OPEN = { REGISTERED = true, DISPATCHED = true, ACCEPTED = true,
               REOPENED = true, ESCALATED = true, RESOLVED = true }
local EVENTS_MAX = 10000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ok(t) t.ok = true; return cjson.encode(t) end

local function fail(code, msg, extra)
  local t = extra or {}
  t.ok = false; t.code = code; t.message = msg
  return cjson.encode(t)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

-- Days since 1970-01-01 to civil date (H. Hinnant's algorithm).
local function ymd(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                         - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d%02d%02d', y, m, d)
end

-- What a unit may add to one timeline by messages (progress notes,
-- extension requests): the ledger stays readable and memory bounded.
local TIMELINE_UNIT_MAX = 2000
local function timeline_full(P, id)
  return redis.call('LLEN', P .. 'case:' .. id .. ':log') >= TIMELINE_UNIT_MAX
end

-- Append one timeline entry and mirror it on the capped event stream.
local function log_event(P, c, what, who, note, extra)
  local ev = { at = c._now, what = what, who = who or '', state = c.state,
               tier = tonumber(c.tier), unit = c.unit or '',
               deadline = tonumber(c.resolve_by) or 0, note = note or '',
               version = tonumber(c.version) }
  if extra then for k, v in pairs(extra) do ev[k] = v end end
  local js = cjson.encode(ev)
  redis.call('RPUSH', P .. 'case:' .. c.id .. ':log', js)
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', EVENTS_MAX, '*',
             'case', c.id, 'grid', c.grid, 'category', c.category, 'event', js)
end

-- Move the live counters from the case's old state to its new one.
local function move_state(P, c, new)
  local old = c.state
  if old == new then return end
  if old then
    redis.call('HINCRBY', P .. 'stats:state', old, -1)
    redis.call('ZREM', P .. 'idx:state:' .. old, c.id)
  end
  redis.call('HINCRBY', P .. 'stats:state', new, 1)
  -- cases by state, oldest first, for lists and screens (no scans)
  redis.call('ZADD', P .. 'idx:state:' .. new, c.created, c.id)
  local was_open = old and OPEN[old] or false
  local is_open = OPEN[new] or false
  if was_open and not is_open then redis.call('ZREM', P .. 'idx:late', c.id) end
  if was_open ~= is_open then
    local d = is_open and 1 or -1
    redis.call('HINCRBY', P .. 'stats:open_tier', TIERS[tonumber(c.tier)], d)
    redis.call('HINCRBY', P .. 'stats:open_grid', c.grid, d)
    redis.call('HINCRBY', P .. 'stats:open_category', c.category, d)
  end
  c.state = new
end

local function total(P, what, d)
  redis.call('HINCRBY', P .. 'stats:total', what, d or 1)
end

-- Queue a notification job for notify; its id goes back to the caller,
-- who wakes notify after this call returns (commit, then send).
local function notify(P, c, event, audience, note, jobs)
  local id = tostring(redis.call('INCR', P .. 'seq:job'))
  redis.call('HSET', P .. 'job:' .. id, 'event', event, 'case', c.id,
             'grid', c.grid, 'category', c.category, 'tier', c.tier,
             'state', c.state, 'unit', c.unit or '', 'at', c._now,
             'audience', audience, 'note', note or '', 'attempts', 0, 'done', '')
  redis.call('ZADD', P .. 'pending:notify', c._now, id)
  table.insert(jobs, id)
end

local function save(P, c, fields)
  c.version = tonumber(c.version) + 1
  local args = { 'version', c.version, 'state', c.state }
  for _, f in ipairs(fields) do
    table.insert(args, f); table.insert(args, c[f] == nil and '' or c[f])
  end
  redis.call('HSET', P .. 'case:' .. c.id, unpack(args))
end

local function load_case(P, id)
  local c = hgetall(P .. 'case:' .. id)
  if c then c._now = now_ms() end
  return c
end

local function case_reply(c, extra)
  local t = extra or {}
  t.case_id = c.id; t.state = c.state; t.tier = tonumber(c.tier)
  t.version = tonumber(c.version); t.resolve_by = tonumber(c.resolve_by) or 0
  return t
end

