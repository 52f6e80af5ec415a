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
local EVENTS_MAX = '10000'

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A number as Redis wants it. Redis formats a Lua number argument with
-- "%.17g" and Lua a number with "%.14g", both through the C library's
-- floating-point printf; integers formatted as integers cost a fraction.
local function I(x)
  if type(x) == 'number' and x == math.floor(x) and x > -1e15 and x < 1e15 then
    return string.format('%d', x)
  end
  return tostring(x)
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

-- A timeline entry is a JSON array in fixed positions (the same nine keys
-- in every entry cost more than the data, in memory and in the AOF):
--   [at, what, who, state, tier, unit, deadline, note, version, extra]
-- extra is an object of event-specific fields, absent when none; its
-- "job" field, when present, is the notification queued with the entry:
-- [event, audience, note-if-not-the-entry's]. event_decode turns an entry
-- back into the keyed object every reader sees.
local EVENT_KEYS = { 'at', 'what', 'who', 'state', 'tier', 'unit', 'deadline', 'note', 'version' }

local function event_decode(text)
  local okd, v = pcall(cjson.decode, text)
  if not okd or type(v) ~= 'table' then return nil end
  if v[1] == nil then return v end
  local ev = {}
  for i, k in ipairs(EVENT_KEYS) do ev[k] = v[i] end
  if type(v[10]) == 'table' then
    for k, x in pairs(v[10]) do if k ~= 'job' then ev[k] = x end end
  end
  return ev, v[10] and v[10].job
end

-- The jobs a call queued, for its reply (nil when none: cjson would write
-- an empty table as {}).
local function jobs_of(c)
  if c._jobs and #c._jobs > 0 then return c._jobs end
  return nil
end

-- How long a new job waits for its wake-up before a sweep may claim it
-- (cfg:job_grace, notify's lease, written by gc_notify_grace), read once
-- per library load: only gc_notify_grace changes it, and updates this.
local job_grace_ms = nil
local function job_grace(P, set)
  if set then job_grace_ms = set end
  if not job_grace_ms then job_grace_ms = tonumber(redis.call('GET', P .. 'cfg:job_grace')) or 0 end
  return job_grace_ms
end

-- Queue the notification job of entry n (job = { event, audience, note? },
-- note defaulting to the entry's) for notify (commit, then send: the
-- caller wakes notify with jobs_of and the job's content, job_info, after
-- the call returns). A job is the timeline entry it notifies of: id
-- '<case>:<entry number>'.
local function queue_job(P, c, n, job, entry_note)
  local id = c.id .. ':' .. n
  -- due for a sweep after notify's grace: the wake-up normally gets there
  -- first and carries the job, so notify need not read it
  redis.call('ZADD', P .. 'pending:notify', I(c._now + job_grace(P)), id)
  c._jobs = c._jobs or {}
  c._job_info = c._job_info or {}
  table.insert(c._jobs, id)
  table.insert(c._job_info, { id = id, event = job[1], audience = job[2] or '',
                              note = job[3] or entry_note or '', case = c.id,
                              ledger = c.ledger or c.id, grid = c.grid or '',
                              category = c.category or '', tier = tonumber(c.tier) or 0,
                              state = c.state, unit = c.unit or '', at = c._now })
  return id
end

-- Append one timeline entry and announce it on the capped event stream
-- (the stream names the entry; readers fetch it from the timeline). job,
-- { event, audience [, note] }, queues a notification of this entry.
local function log_event(P, c, what, who, note, extra, job)
  -- who is the authenticated principal; c._by the name its client gave
  if (c._by or '') ~= '' then extra = extra or {}; extra.by = c._by end
  local ev = { c._now, what, who or '', c.state, tonumber(c.tier) or 0, c.unit or '',
               tonumber(c.resolve_by) or 0, note or '', tonumber(c.version) or 0 }
  if job then
    extra = extra or {}
    if job[3] == nil or job[3] == (note or '') then job[3] = nil end
    extra.job = job
  end
  if extra then ev[10] = extra end
  local key = P .. 'case:' .. c.id .. ':log'
  local n = redis.call('RPUSH', key, cjson.encode(ev))
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', EVENTS_MAX, '*', 'c', c.id, 'n', I(n))
  c._ev, c._evn = ev, n
  if job then queue_job(P, c, n, job, note) end
  return n
end

-- The fields of an events stream entry ({field, value, ...}) as readers
-- want them: case, grid, category and the keyed event as JSON text. Nil
-- when the case or its entry is gone.
local function stream_event(P, fields)
  local f = {}
  for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
  if f.event then return f end
  local id, n = f.c, tonumber(f.n)
  if not id or not n then return nil end
  local text = redis.call('LINDEX', P .. 'case:' .. id .. ':log', n - 1)
  local ev = text and event_decode(text)
  if not ev then return nil end
  local h = redis.call('HMGET', P .. 'case:' .. id, 'grid', 'category')
  return { case = id, grid = h[1] or '', category = h[2] or '', event = cjson.encode(ev) }
end

-- Queue a "withdrawn" notice for unit u, whose offer (held or waiting)
-- for case c this transition takes back; reason is a WithdrawReason name
-- without its prefix (ESCALATED, PARKED, REOPENED). Dispatch takes the
-- notices after the commit (gc_withdrawals) and tells the units: advisory,
-- a unit that misses one is refused on its next reply for that offer.
local function withdraw(P, c, u, offer, reason, note)
  if (u or '') == '' or (offer or '') == '' then return end
  redis.call('RPUSH', P .. 'withdrawals', cjson.encode({ u, c.id, offer, reason, note or '' }))
end

-- Every state, as proto/gridcall.proto's CaseState names them (a test
-- checks the two agree). idx:state:<S> holds the cases in S, so the
-- count of a state is its ZCARD.
local STATES = { 'REPORTED', 'REGISTERED', 'DISPATCHED', 'ACCEPTED', 'RESOLVED', 'VERIFIED',
                 'CLOSED', 'REJECTED', 'DUPLICATE', 'REOPENED', 'ESCALATED', 'ORDERED',
                 'PARKED' }

local function state_counts(P)
  local t = {}
  for _, s in ipairs(STATES) do
    local n = redis.call('ZCARD', P .. 'idx:state:' .. s)
    if n > 0 then t[s] = n end
  end
  return t
end

-- Cases reported per category: idx:category:<code> holds them all.
local function category_counts(P)
  local t = {}
  for _, code in ipairs(redis.call('SMEMBERS', P .. 'dir:cats')) do
    local n = redis.call('ZCARD', P .. 'idx:category:' .. code)
    if n > 0 then t[code] = n end
  end
  return t
end

-- The case lifecycle (docs/escalation.md, DESIGN.md §2): the states a
-- case may move to from each state ('' is a new case). RESOLVED moves to
-- CLOSED through VERIFIED in one step (verify). A move outside this table
-- is a bug in a transition: it stops the call with an error.
local LIFECYCLE = {
  [''] = { REGISTERED = true, ORDERED = true, DISPATCHED = true },  -- registered and offered in one step
  ORDERED = { REGISTERED = true, REJECTED = true },
  REGISTERED = { DISPATCHED = true, ESCALATED = true, PARKED = true },
  DISPATCHED = { ACCEPTED = true, ESCALATED = true, PARKED = true },
  ACCEPTED = { RESOLVED = true, ESCALATED = true, PARKED = true },
  RESOLVED = { CLOSED = true, REOPENED = true },
  REOPENED = { DISPATCHED = true, ESCALATED = true, PARKED = true },
  ESCALATED = { DISPATCHED = true, PARKED = true },
  PARKED = { REOPENED = true },
}

-- Move the case from its old state to its new one: the state index, and
-- the open counters when it opens or closes.
local function move_state(P, c, new)
  local old = c.state
  if old == new then return end
  if not (LIFECYCLE[old or ''] or {})[new] then
    error('gridcall: case ' .. tostring(c.id) .. ' cannot move from ' .. tostring(old) .. ' to ' .. new)
  end
  if old then redis.call('ZREM', P .. 'idx:state:' .. old, c.id) end
  -- cases by state, oldest first, for lists and screens (no scans)
  redis.call('ZADD', P .. 'idx:state:' .. new, I(c.created), c.id)
  local was_open = old and OPEN[old] or false
  local is_open = OPEN[new] or false
  if was_open and not is_open then redis.call('ZREM', P .. 'idx:late', c.id) end
  if was_open ~= is_open then
    local d = is_open and '1' or '-1'
    redis.call('HINCRBY', P .. 'stats:open_tier', TIERS[tonumber(c.tier)], d)
    redis.call('HINCRBY', P .. 'stats:open_grid', c.grid, d)
    redis.call('HINCRBY', P .. 'stats:open_category', c.category, d)
  end
  c.state = new
end

local function total(P, what, d)
  redis.call('HINCRBY', P .. 'stats:total', what, d and I(d) or '1')
end

-- Queue a notification of the entry this call logged last (every caller
-- logs first): its id goes to jobs and to jobs_of(c). The hot paths pass
-- the job to log_event instead, which saves rewriting the entry here.
local function notify(P, c, event, audience, note, jobs)
  local ev = c._ev
  if not ev or (ev[10] and ev[10].job) then
    -- nothing logged yet, or the entry already carries a job (one job an
    -- entry: its id is the entry's): a notice entry of its own
    log_event(P, c, 'notified', '', note, nil, { event, audience })
  else
    local extra = ev[10] or {}
    extra.job = { event, audience }
    if (note or '') ~= ev[8] then extra.job[3] = note or '' end
    ev[10] = extra
    redis.call('LSET', P .. 'case:' .. c.id .. ':log', I(c._evn - 1), cjson.encode(ev))
    queue_job(P, c, c._evn, extra.job, ev[8])
  end
  local ids = c._jobs
  if jobs and jobs ~= ids then table.insert(jobs, ids[#ids]) end
end

-- Mark fields of c to be written by the next save (helpers that change
-- a case, like start_clock, leave the one write to their caller).
local function touch(c, ...)
  c._dirty = c._dirty or {}
  for _, f in ipairs({ ... }) do c._dirty[f] = true end
end

-- Write the case: version + 1, its state, fields and the touched fields,
-- in one HSET.
local function save(P, c, fields)
  c.version = tonumber(c.version) + 1
  local args = { 'version', I(c.version), 'state', c.state }
  local was = c._was or {}
  local seen = {}
  local function put(f)
    if seen[f] then return end
    seen[f] = true
    local v = c[f] == nil and '' or I(c[f])
    -- unchanged since loaded: not written again (a smaller AOF)
    if was[f] ~= nil and was[f] == v then return end
    table.insert(args, f); table.insert(args, v)
    was[f] = v
  end
  for _, f in ipairs(fields) do put(f) end
  for f in pairs(c._dirty or {}) do put(f) end
  c._dirty = nil
  redis.call('HSET', P .. 'case:' .. c.id, unpack(args))
end

-- Load case id: every field, or only the fields listed (a hot transition
-- reads what it uses; a field it does not load reads as nil). c._was keeps
-- the loaded values so save writes only what changed.
local function load_case(P, id, fields)
  local c, was = {}, {}
  if fields then
    local h = redis.call('HMGET', P .. 'case:' .. id, unpack(fields))
    if not h[1] then return nil end         -- fields[1] is always 'state'
    for i, f in ipairs(fields) do
      local v = h[i]
      if v then c[f] = v; was[f] = v end
    end
  else
    local flat = redis.call('HGETALL', P .. 'case:' .. id)
    if #flat == 0 then return nil end
    for i = 1, #flat, 2 do c[flat[i]] = flat[i + 1]; was[flat[i]] = flat[i + 1] end
  end
  c.id = id
  c._was = was
  c._now = now_ms()
  return c
end

-- The fields the unit transitions use (reply, offer, verify).
local CASE_REPLY_FIELDS = { 'state', 'tier', 'grid', 'category', 'version', 'created',
  'resolve_by', 'unit', 'ledger', 'scale', 'offer_id', 'offer_unit', 'offer_by',
  'lead_resolved', 'parties_needed', 'reporter', 'prev_unit', 'round', 'appointment',
  'waiting', 'text' }

local function case_reply(c, extra)
  local t = extra or {}
  t.case_id = c.id; t.state = c.state; t.tier = tonumber(c.tier)
  t.grid = c.grid; t.category = c.category
  t.version = tonumber(c.version); t.resolve_by = tonumber(c.resolve_by) or 0
  if t.jobs == nil or (type(t.jobs) == 'table' and #t.jobs == 0) then t.jobs = jobs_of(c) end
  if t.jobs and c._job_info then t.job_info = c._job_info end
  return t
end

