-- Report: read-only queries for screens, the API and the ledger. Each one
-- reads the indexes and counters the transitions keep (idx:*, stats:*,
-- timers, unit:*, events) and is bounded by a page or sample size: no
-- KEYS, no SCAN, no walk over every case.

local REPORT_SCAN_MAX = 5000        -- index entries one cases call may look at
local REPORT_PAGE_MAX = 1000        -- rows one cases call may return
local REPORT_FIELDS = { 'state', 'ledger', 'grid', 'community', 'category', 'channel',
                        'reporter', 'tier', 'unit', 'responsible', 'resolve_by',
                        'created', 'resolved', 'closed', 'satisfaction', 'text', 'waiting',
                        'merged_into', 'liaison', 'media' }
local DAY_MS = 86400000

-- A case's ledger row as a table, or nil when the case hash is gone.
local function report_row(P, id)
  local h = redis.call('HMGET', P .. 'case:' .. id, unpack(REPORT_FIELDS))
  if not h[1] then return nil end
  local r = {}
  for i, f in ipairs(REPORT_FIELDS) do r[f] = h[i] or '' end
  r.id = id
  if r.ledger == '' then r.ledger = id end
  if r.merged_into == '' then r.merged_into = nil end
  r.tier = tonumber(r.tier) or 0
  for _, f in ipairs({ 'resolve_by', 'created', 'resolved', 'closed', 'satisfaction' }) do
    r[f] = tonumber(r[f]) or 0
  end
  return r
end

-- The street's local time offset in ms and the start of this local week
-- (Monday 00:00) in Unix ms, for now.
local function report_week(P, now)
  local off = (tonumber(redis.call('HGET', P .. 'dir:street', 'utc_offset_minutes')) or 0) * 60000
  local days = math.floor((now + off) / DAY_MS)
  local dow = (days + 3) % 7          -- 1970-01-01 was a Thursday; 0 = Monday
  return off, (days - dow) * DAY_MS - off
end

-- True when text a sorts before text b byte by byte, as Redis sorts
-- members of equal score.
local function bytes_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The ZCOUNT bounds of [from, to) (ms; '' for open-ended).
local function report_bounds(from, to)
  return tonumber(from) and tostring(tonumber(from)) or '-inf',
         tonumber(to) and ('(' .. tostring(tonumber(to))) or '+inf'
end

-- cases(P, filters_json): one page of cases, newest first. Filters: from,
-- to (created ms, to exclusive), grid, community, category, unit, states
-- (array), open (bool), cursor ('<created ms>:<case id>' of the last
-- entry the previous page looked at, '' to start), limit. The most
-- selective filter picks the index; the others are checked per case,
-- looking at REPORT_SCAN_MAX entries at most per call. Returns items,
-- next (cursor, or null at the end), total (exact when the index alone
-- decides, else null) and scanned. A page starts after the entry the
-- cursor names, not at a position: cases filed, or leaving the index,
-- between two pages shift nothing, so no case is listed twice or skipped.
local function report_cases(keys, a)
  local P = a[1]
  local ok_, f = pcall(cjson.decode, a[2] or '{}')
  if not ok_ or type(f) ~= 'table' then return fail('BAD_VALUE', 'filters are not a JSON object') end
  local limit = math.min(math.max(tonumber(f.limit) or 50, 1), REPORT_PAGE_MAX)
  local lo, top = report_bounds(f.from, f.to)
  local hi = top                      -- narrowed to before the cursor below
  local after_s, after_id
  if f.cursor ~= nil and type(f.cursor) ~= 'string' then
    return fail('BAD_VALUE', 'cursor: the next_cursor of the previous page')
  end
  if f.cursor ~= nil and f.cursor ~= '' then
    local s, id = string.match(f.cursor, '^(%d+):([%w%._%-]+)$')
    if not s then return fail('BAD_VALUE', 'cursor: the next_cursor of the previous page') end
    after_s, after_id = s, id
    if (tonumber(f.from) and tonumber(s) < tonumber(f.from))
       or (tonumber(f.to) and tonumber(s) >= tonumber(f.to)) then
      return fail('BAD_VALUE', 'cursor: outside the range from..to')
    end
  end
  local states = nil
  if type(f.states) == 'table' and #f.states > 0 then
    states = {}
    for _, s in ipairs(f.states) do states[s] = true end
  end
  local open = f.open == true
  -- pick the index; 'checked' names the filter it already decides
  local key, checked
  if type(f.unit) == 'string' and f.unit ~= '' then key, checked = 'idx:unit:' .. f.unit, 'unit'
  elseif type(f.grid) == 'string' and f.grid ~= '' then key, checked = 'idx:grid:' .. f.grid, 'grid'
  elseif type(f.category) == 'string' and f.category ~= '' then
    key, checked = 'idx:category:' .. f.category, 'category'
  elseif states and #f.states == 1 and not open and state_index(f.states[1])
         and not OPEN[f.states[1]] then
    key, checked = 'idx:state:' .. f.states[1], 'states'
  elseif open or (states and #f.states == 1 and OPEN[f.states[1]]) then
    -- open cases, or one open state: idx:open (the state checked per case)
    key, checked = 'idx:open', ''
  else key, checked = 'idx:created', '' end
  key = P .. key
  local exact, alone = true, true
  for _, name in ipairs({ 'unit', 'grid', 'category', 'community' }) do
    if name ~= checked and type(f[name]) == 'string' and f[name] ~= '' then exact = false; alone = false end
  end
  if (states and checked ~= 'states') or open then exact = false end
  -- closed cases are looked for in idx:created; alone, counted exactly too
  local only_closed = key == P .. 'idx:created' and not open and states and #f.states == 1
                      and f.states[1] == 'CLOSED'
  local closed_total = only_closed and checked == '' and alone
  local items, scanned, took = {}, 0, 0
  local last_s, last_id = after_s, after_id
  -- look at ids (all created at scores[i]) in order; true once the page is full
  local function take(ids, scores)
    -- closed cases looked for in idx:created: the open ones (a backlog at
    -- the top) told by one ZMSCORE of idx:open, not a read of each
    local opened = {}
    for from = 1, only_closed and #ids or 0, 500 do
      local part = redis.call('ZMSCORE', P .. 'idx:open', unpack(ids, from, math.min(from + 499, #ids)))
      for k = 1, #part do opened[from + k - 1] = part[k] end
    end
    took = 0
    for i, id in ipairs(ids) do
      if scanned >= REPORT_SCAN_MAX then return false end
      scanned = scanned + 1; took = i
      last_s, last_id = scores[i], id
      local r = not opened[i] and report_row(P, id) or nil
      local keep = r ~= nil
      if keep and checked ~= 'unit' and f.unit and f.unit ~= '' and r.unit ~= f.unit then keep = false end
      if keep and checked ~= 'grid' and f.grid and f.grid ~= '' and r.grid ~= f.grid then keep = false end
      if keep and checked ~= 'category' and f.category and f.category ~= ''
         and r.category ~= f.category then keep = false end
      if keep and checked ~= 'community' and f.community and f.community ~= ''
         and r.community ~= f.community then keep = false end
      if keep and states and not states[r.state] then keep = false end
      if keep and open and not OPEN[r.state] then keep = false end
      if keep then table.insert(items, r) end
      if #items >= limit then return true end
    end
    return false
  end
  -- the entries created in the same ms as the cursor's, after it
  -- (newest first: byte order descending)
  local full = false
  if after_s then
    local ties, later = redis.call('ZRANGEBYSCORE', key, after_s, after_s), {}
    for i = #ties, 1, -1 do
      if bytes_before(ties[i], after_id) then table.insert(later, ties[i]) end
    end
    local scores = {}
    for i = 1, #later do scores[i] = after_s end
    full = take(later, scores)
    hi = '(' .. after_s
  end
  local done, pos = false, 0
  while not full and scanned < REPORT_SCAN_MAX do
    local want = exact and (limit - #items) or math.min(REPORT_SCAN_MAX - scanned, 500)
    local got = redis.call('ZREVRANGEBYSCORE', key, hi, lo, 'WITHSCORES', 'LIMIT', pos, want)
    local ids, scores = {}, {}
    for i = 1, #got, 2 do ids[#ids + 1] = got[i]; scores[#scores + 1] = got[i + 1] end
    pos = pos + #ids
    full = take(ids, scores)
    if not full and took == #ids and #ids < want then done = true end
    if done then break end
  end
  -- a full page at the very end of the index says so: no empty last page
  if not done and last_s then
    local ties = redis.call('ZRANGEBYSCORE', key, last_s, last_s, 'LIMIT', 0, 1)
    if ties[1] == last_id
       and #redis.call('ZREVRANGEBYSCORE', key, '(' .. last_s, lo, 'LIMIT', 0, 1) == 0 then
      done = true
    end
  end
  local out = { items = items, scanned = scanned, now = now_ms() }
  if exact then out.total = redis.call('ZCOUNT', key, lo, top)
  elseif closed_total then out.total = closed_count(P, lo, top) end
  if not done and last_s then out.next = last_s .. ':' .. last_id end
  return ok(out)
end

-- range(P, from, to, state...): cases created in [from, to) per state
-- (the states the caller names: the report passes the wire contract's),
-- grid, community, category and unit: one ZCOUNT per directory entry. An
-- open state's figure is 0 here: the open cases share one index, so each
-- one's state is read, a page at a time by report_range_open.
local function report_range(keys, a)
  local P = a[1]
  local lo, hi = report_bounds(a[2], a[3])
  local out = { created = redis.call('ZCOUNT', P .. 'idx:created', lo, hi),
                by_state = {}, by_grid = {}, by_community = {}, by_category = {}, by_unit = {} }
  for i = 4, #a do
    out.by_state[a[i]] = OPEN[a[i]] and 0
                         or (a[i] == 'CLOSED' and closed_count(P, lo, hi))
                         or redis.call('ZCOUNT', P .. 'idx:state:' .. a[i], lo, hi)
  end
  -- a community's figure is the sum of its grids' (no index of its own:
  -- a grid belongs to one community)
  for _, g in ipairs(redis.call('SMEMBERS', P .. 'dir:grids')) do
    local n = redis.call('ZCOUNT', P .. 'idx:grid:' .. g, lo, hi)
    out.by_grid[g] = n
    local c = redis.call('HGET', P .. 'dir:grid:' .. g, 'community')
    if c then out.by_community[c] = (out.by_community[c] or 0) + n end
  end
  for _, c in ipairs(redis.call('SMEMBERS', P .. 'dir:cats')) do
    out.by_category[c] = redis.call('ZCOUNT', P .. 'idx:category:' .. c, lo, hi)
  end
  for _, u in ipairs(redis.call('SMEMBERS', P .. 'dir:units')) do
    out.by_unit[u] = redis.call('ZCOUNT', P .. 'idx:unit:' .. u, lo, hi)
  end
  out.now = now_ms()
  return ok(out)
end

-- range_open(P, from, to, after_score, after_id, count): the open cases
-- created in [from, to) counted by state, at most count (1..5000) of
-- them, the first after the case (after_score, after_id) ('' '' to
-- start). Reading each case's state is a read a case: a range over a
-- million open cases takes seconds of Redis, so it is taken in calls of
-- a few ms, between which Redis serves everyone else. next, [score, id]
-- of the last case counted, is there when more may follow. A case counts
-- at its state when its page is read; none is counted twice, as a case's
-- place in idx:open (its created time) does not move.
local function report_range_open(keys, a)
  local P, key = a[1], a[1] .. 'idx:open'
  local lo, hi = report_bounds(a[2], a[3])
  local after_score, after_id, count = tonumber(a[4]), a[5] or '', tonumber(a[6])
  if not count or count < 1 or count > 5000 then
    return fail('BAD_VALUE', 'count must be 1..5000')
  end
  if after_score and (after_score < (tonumber(a[2]) or -math.huge)
                      or after_score >= (tonumber(a[3]) or math.huge)) then
    return fail('BAD_VALUE', 'the cursor is outside the range')
  end
  local state, n, last = {}, 0, nil
  local function add(id, score)
    local s = redis.call('HGET', P .. 'case:' .. id, 'state')
    if s then state[s] = (state[s] or 0) + 1 end
    n = n + 1
    last = { score, id }
  end
  if after_score then
    -- the rest of the cases created in the same ms as the last one
    -- counted, in the byte order Redis keeps equal scores in (Lua's
    -- string comparison follows the locale)
    local at = a[4]
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, at, at)) do
      if bytes_before(after_id, id) then add(id, at) end
    end
    lo = '(' .. at
  end
  local page = redis.call('ZRANGEBYSCORE', key, lo, hi, 'WITHSCORES', 'LIMIT', 0, count)
  for i = 1, #page, 2 do add(page[i], page[i + 1]) end
  return ok({ state = state, counted = n, next = (#page == 2 * count) and last or nil })
end

-- A red or yellow list row: the case's ledger fields and its time left.
local function report_due_row(P, id, due, now)
  local r = report_row(P, id)
  if not r or not OPEN[r.state] then return nil end
  return { id = r.id, ledger = r.ledger, grid = r.grid, community = r.community,
           category = r.category, tier = r.tier, unit = r.unit, state = r.state,
           created = r.created, due = due, left_ms = due - now }
end

local function report_newest_first(rows)
  table.sort(rows, function(x, y)
    if x.created ~= y.created then return x.created > y.created end
    return x.id > y.id
  end)
  return rows
end

-- How many late cases the red list looks through for escalated ones.
local LATE_SCAN_MAX = 5000

-- The red list: open cases whose deadline has passed (a due timer escalate
-- has not fired yet, or top-tier overdue), that stand ESCALATED, or that
-- idx:late holds (cases that missed a deadline at some tier, where the
-- transitions keep it). late_grids gets every grid of a row seen.
local function report_red(P, now, max, late_grids, escalated)
  local seen, rows, shown = {}, {}, 0
  local function add(id, due)
    if seen[id] then return end
    seen[id] = true
    local r = report_due_row(P, id, due, now)
    if r then
      late_grids[r.grid] = (late_grids[r.grid] or 0) + 1
      table.insert(rows, r)
      if r.state == 'ESCALATED' then shown = shown + 1 end
    end
  end
  local due = redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', now, 'WITHSCORES', 'LIMIT', 0, max)
  for i = 1, #due, 2 do
    local id = string.match(due[i], '^(.*)|deadline$')
    if id then add(id, tonumber(due[i + 1])) end
  end
  for _, id in ipairs(redis.call('ZREVRANGE', P .. 'idx:late', 0, max - 1)) do
    add(id, tonumber(redis.call('HGET', P .. 'case:' .. id, 'resolve_by')) or now)
  end
  -- escalated cases, newest first (read only when stats:open counts some):
  -- a climb puts each in idx:late, so they are looked for among the late
  -- cases beyond those above, not among every open case (a read each:
  -- 100,000 of them held Redis for 400 ms)
  local want = math.min(max, escalated or 0)
  local from = max
  while shown < want and from < max + LATE_SCAN_MAX do
    local late = redis.call('ZREVRANGE', P .. 'idx:late', from, from + max - 1)
    for _, id in ipairs(late) do
      if shown >= want then break end
      local h = redis.call('HMGET', P .. 'case:' .. id, 'state', 'resolve_by')
      if h[1] == 'ESCALATED' then add(id, tonumber(h[2]) or now) end
    end
    if #late < max then break end
    from = from + max
  end
  return rows
end

-- The yellow list: open cases due within fraction of their tier's limit,
-- soonest first among the next max * 4 timers.
local function report_yellow(P, now, fraction, scale, max, red_ids)
  local rows = {}
  local due = redis.call('ZRANGEBYSCORE', P .. 'timers', '(' .. now, '+inf', 'WITHSCORES',
                         'LIMIT', 0, max * 4)
  for i = 1, #due, 2 do
    local id = string.match(due[i], '^(.*)|deadline$')
    if id and not red_ids[id] then
      local at = tonumber(due[i + 1])
      local h = redis.call('HMGET', P .. 'case:' .. id, 'category', 'tier')
      if h[1] and at - now <= fraction * limit_ms(P, h[1], tonumber(h[2]) or 1, scale) then
        local r = report_due_row(P, id, at, now)
        if r then table.insert(rows, r) end
        if #rows >= max then break end
      end
    end
  end
  return rows
end

-- How the latest closed cases did, per tier and per unit: count, on time,
-- handling time, satisfaction, tiers climbed. On time is against the
-- deadline the case started with (due0; a case without it, from before
-- due0 was kept, counts when it never climbed and met resolve_by), and
-- on_time_now against its deadline at the end (after climbs and
-- extensions). sample bounds the work; closed is the closed count
-- (closed_count), which the screen has read already.
local PERF_PAGE = 500
local PERF_SCAN_MAX = 4000
local function report_perf(P, sample, closed)
  local by_tier, by_unit, start = {}, {}, {}
  local function fresh()
    return { n = 0, on_time = 0, on_time_now = 0, handling_ms = 0, sat_sum = 0, sat_n = 0,
             escalations = 0 }
  end
  local all = fresh()
  local function acc(t, k)
    t[k] = t[k] or fresh()
    return t[k]
  end
  -- the newest closed cases: idx:created newest first, the closed ones
  -- (nearly all but the open), looking at PERF_SCAN_MAX entries at most
  -- (no more than there are: a street of open cases reads nothing)
  sample = math.min(sample, closed)
  local ids, k, got, pos = {}, 1, 0, 0
  -- the next case of idx:created, newest first, that is not open: a page
  -- at a time, the open ones told by one ZMSCORE of idx:open a page (a
  -- backlog of open cases costs no read of each)
  local function more()
    while got < sample do
      if k > #ids then
        if pos >= PERF_SCAN_MAX then return nil end
        local page = redis.call('ZREVRANGE', P .. 'idx:created', pos, pos + PERF_PAGE - 1)
        if #page == 0 then return nil end
        pos = pos + #page
        local open = redis.call('ZMSCORE', P .. 'idx:open', unpack(page))
        ids, k = {}, 1
        for i, id in ipairs(page) do if not open[i] then ids[#ids + 1] = id end end
      else
        k = k + 1
        return ids[k - 1]
      end
    end
    return nil
  end
  for id in more do
    local h = redis.call('HMGET', P .. 'case:' .. id, 'created', 'resolved', 'closed',
                         'resolve_by', 'tier', 'unit', 'category', 'satisfaction', 'scale',
                         'due0', 'climbs', 'state')
    local created, resolved, closed = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
    if created and closed and h[12] == 'CLOSED' then
      got = got + 1
      local tier = tonumber(h[5]) or 1
      if start[h[7]] == nil then
        start[h[7]] = tonumber(redis.call('HGET', P .. 'dir:cat:' .. (h[7] or ''), 'start_tier')) or tier
      end
      local climbed = math.max(tier - start[h[7]], 0, tonumber(h[11]) or 0)
      local due_now, due0 = tonumber(h[4]), tonumber(h[10])
      local on_time_now = resolved ~= nil and due_now ~= nil and resolved <= due_now
      local on_time
      if due0 then on_time = resolved ~= nil and resolved <= due0
      else on_time = on_time_now and climbed == 0 end
      local sat = tonumber(h[8])
      for _, t in ipairs({ all, acc(by_tier, TIERS[tier] or 'GRID'),
                           acc(by_unit, (h[6] and h[6] ~= '') and h[6] or '-') }) do
        t.n = t.n + 1
        if on_time then t.on_time = t.on_time + 1 end
        if on_time_now then t.on_time_now = t.on_time_now + 1 end
        -- in case time: a demo at 600x handles in seconds what takes hours
        t.handling_ms = t.handling_ms + (closed - created) * (tonumber(h[9]) or 1)
        if sat then t.sat_sum = t.sat_sum + sat; t.sat_n = t.sat_n + 1 end
        t.escalations = t.escalations + climbed
      end
    end
  end
  return { sample = all, by_tier = by_tier, by_unit = by_unit }
end

-- Service-card orders per service category of the directory: waiting to
-- be placed (ORDERED) and delivered (placed, handled and CLOSED): an
-- intersection of two indexes, its cost bounded by the smaller one, and
-- the category's cases less its open ones (open: an open_counts result)
-- and those in other states.
local function report_services(P, open)
  local out = {}
  for _, c in ipairs(redis.call('SMEMBERS', P .. 'dir:cats')) do
    if redis.call('HGET', P .. 'dir:cat:' .. c, 'kind') == 'service' then
      local idx = P .. 'idx:category:' .. c
      out[c] = { waiting = redis.call('ZINTERCARD', 2, P .. 'idx:state:ORDERED', idx),
                 delivered = closed_in_category(P, c, open) }
    end
  end
  return out
end

-- The events of a stream entry as the ticker shows them, appended to out
-- oldest first (newest first when newest_first); every row carries the
-- entry's id as sid.
local function report_stream_rows(P, e, out, newest_first)
  local rows = stream_events(P, e[2])
  local from, to, step = 1, #rows, 1
  if newest_first then from, to, step = #rows, 1, -1 end
  for i = from, to, step do
    local f = rows[i]
    local okd, ev = pcall(cjson.decode, f.event or '{}')
    if not okd or type(ev) ~= 'table' then ev = {} end
    table.insert(out, { sid = e[1], case = f.case or '', kind = f.kind or 'case', grid = f.grid or '',
                        category = f.category or '', at = tonumber(ev.at) or 0,
                        what = ev.what or '', who = ev.who or '', state = ev.state or '',
                        tier = tonumber(ev.tier) or 0, unit = ev.unit or '', note = ev.note or '' })
  end
end

-- screen(P, yellow_fraction, time_scale, list_max, sample, ticker): what a
-- command-center screen shows, in one atomic read: counters, this week and
-- last by category and grid, red and yellow lists, units' load, the
-- latest closed cases' performance and the newest events.
local function report_screen(keys, a)
  local P = a[1]
  local fraction, scale = tonumber(a[2]) or 0.25, tonumber(a[3]) or 1
  local max, sample, ticker = tonumber(a[4]) or 50, tonumber(a[5]) or 500, tonumber(a[6]) or 30
  local now = now_ms()
  local off, week = report_week(P, now)
  local last = week - 7 * DAY_MS
  local t = { now = now, week_start = week, utc_offset_ms = off }
  -- the open figures and the closed count, read once for every part
  local open, closed = open_counts(P), closed_count(P)
  t.open_tier, t.open_grid, t.open_category = open.tier, open.grid, open.category
  t.total = totals(P, closed)
  t.state = state_counts(P, open, closed)
  t.reported_category = category_counts(P)
  t.pending = { dispatch = redis.call('ZCARD', P .. 'pending:dispatch'),
                notify = redis.call('ZCARD', P .. 'pending:notify') }
  t.timers = redis.call('ZCARD', P .. 'timers')
  t.dead = { notify = redis.call('ZCARD', P .. 'dead:notify') }
  local first = redis.call('ZRANGE', P .. 'timers', 0, 0, 'WITHSCORES')
  t.timer_lag_ms = (first[2] and tonumber(first[2]) < now) and (now - tonumber(first[2])) or 0
  local demand = { category = {}, grid = {} }
  for _, c in ipairs(redis.call('SMEMBERS', P .. 'dir:cats')) do
    demand.category[c] = { redis.call('ZCOUNT', P .. 'idx:category:' .. c, week, '+inf'),
                           redis.call('ZCOUNT', P .. 'idx:category:' .. c, last, '(' .. week) }
  end
  for _, g in ipairs(redis.call('SMEMBERS', P .. 'dir:grids')) do
    demand.grid[g] = { redis.call('ZCOUNT', P .. 'idx:grid:' .. g, week, '+inf'),
                       redis.call('ZCOUNT', P .. 'idx:grid:' .. g, last, '(' .. week) }
  end
  t.demand = demand
  local late = {}
  t.red = report_newest_first(report_red(P, now, max, late, open.state.ESCALATED or 0))
  t.late_grids = late
  local red_ids = {}
  for _, r in ipairs(t.red) do red_ids[r.id] = true end
  t.yellow = report_newest_first(report_yellow(P, now, fraction, scale, max, red_ids))
  local units = {}
  for _, u in ipairs(redis.call('SMEMBERS', P .. 'dir:units')) do
    local cap = redis.call('HGET', P .. 'unit:' .. u, 'capacity')
    units[u] = { tonumber(cap) or 0, unit_held_count(P, u) }
  end
  t.units = units
  t.perf = report_perf(P, sample, closed)
  t.services = report_services(P, open)
  local ev = redis.call('XREVRANGE', P .. 'events', '+', '-', 'COUNT', ticker)
  t.ticker = {}
  for _, e in ipairs(ev) do
    if #t.ticker >= ticker then break end
    report_stream_rows(P, e, t.ticker, true)
  end
  while #t.ticker > ticker do table.remove(t.ticker) end
  t.stream_last = ev[1] and ev[1][1] or '0-0'
  t.dir_version = tonumber(redis.call('GET', P .. 'dir:version')) or 0
  return ok(t)
end

-- events(P, after, count): stream entries after id after (exclusive), for
-- the live feed; with after "" only the newest id, to start from now.
local function report_events(keys, a)
  local P, after, count = a[1], a[2], math.min(tonumber(a[3]) or 200, 1000)
  if after == nil or after == '' or after == '$' then
    local last = redis.call('XREVRANGE', P .. 'events', '+', '-', 'COUNT', 1)
    return ok({ events = {}, last = last[1] and last[1][1] or '0-0' })
  end
  local out = {}
  local ev = redis.call('XRANGE', P .. 'events', '(' .. after, '+', 'COUNT', count)
  for _, e in ipairs(ev) do report_stream_rows(P, e, out, false) end
  return ok({ events = out, last = ev[#ev] and ev[#ev][1] or after })
end

-- units(P): every unit of the directory with capacity and open cases.
local function report_units(keys, a)
  local P, out = a[1], {}
  for _, u in ipairs(redis.call('SMEMBERS', P .. 'dir:units')) do
    local h = redis.call('HMGET', P .. 'unit:' .. u, 'name', 'capacity', 'open', 'responsible')
    table.insert(out, { id = u, name = h[1] or '', capacity = tonumber(h[2]) or 0,
                        open = unit_held_count(P, u),
                        responsible = h[4] or '' })
  end
  table.sort(out, function(x, y) return x.id < y.id end)
  return ok({ units = out, now = now_ms() })
end

redis.register_function{ function_name = 'gc_report_cases', callback = report_cases, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_report_range', callback = report_range, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_report_range_open', callback = report_range_open,
                         flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_report_screen', callback = report_screen, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_report_events', callback = report_events, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_report_units', callback = report_units, flags = { 'no-writes' } }
