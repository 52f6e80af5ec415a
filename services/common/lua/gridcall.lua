#!lua name=gridcall
-- gridcall transitions: each function is one atomic step that checks the
-- case's state and version, updates it, appends to its timeline and the
-- event stream, moves counters and queues follow-up work (DESIGN.md §5).
-- Every function takes the key prefix as ARGV[1] and returns JSON.

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

local function limit_ms(P, category, tier, scale)
  local minutes = tonumber(redis.call('HGET', P .. 'dir:cat:' .. category,
                                      'limit_' .. tier)) or 1440
  return math.floor(minutes * 60000 / scale)
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
  if old then redis.call('HINCRBY', P .. 'stats:state', old, -1) end
  redis.call('HINCRBY', P .. 'stats:state', new, 1)
  local was_open = old and OPEN[old] or false
  local is_open = OPEN[new] or false
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

-- register(P, idem, grid, category, text, channel, reporter, building,
--          location, scale, idem_ttl_s)
local function register(keys, a)
  local P, idem, grid, category = a[1], a[2], a[3], a[4]
  local scale = tonumber(a[10]) or 1
  local ikey = P .. 'idem:' .. idem
  local seen = redis.call('GET', ikey)
  if seen then
    local c = hgetall(P .. 'case:' .. seen)
    if c then return ok(case_reply(c, { duplicate = true, ledger = c.ledger })) end
  end
  local g = hgetall(P .. 'dir:grid:' .. grid)
  if not g then return fail('UNKNOWN_GRID', 'grid "' .. grid .. '" is not in the directory') end
  local cat = hgetall(P .. 'dir:cat:' .. category)
  if not cat then
    return fail('UNKNOWN_CATEGORY', 'category "' .. category .. '" is not in the directory')
  end
  local now = now_ms()
  local offset = tonumber(redis.call('HGET', P .. 'dir:street', 'utc_offset_minutes')) or 0
  local code = redis.call('HGET', P .. 'dir:street', 'code') or 'GC'
  local day = ymd(math.floor((now + offset * 60000) / 86400000))
  local seq = redis.call('INCR', P .. 'seq:day:' .. day)
  local id = string.format('%s-%s-%06d', code, day, seq)
  local tier = tonumber(cat.start_tier)
  local c = { id = id, ledger = id, grid = grid, community = g.community,
              category = category, text = a[5], channel = a[6], reporter = a[7],
              building = a[8], location = a[9], tier = tier, unit = '',
              created = now, version = 0, _now = now, idem = idem,
              resolve_by = now + limit_ms(P, category, tier, scale) }
  move_state(P, c, 'REGISTERED')
  save(P, c, { 'id', 'ledger', 'grid', 'community', 'category', 'text', 'channel',
               'reporter', 'building', 'location', 'tier', 'unit', 'created',
               'resolve_by', 'idem' })
  redis.call('SET', ikey, id, 'EX', tonumber(a[11]) or 86400)
  redis.call('ZADD', P .. 'timers', c.resolve_by, id .. '|deadline')
  redis.call('ZADD', P .. 'pending:dispatch', now, id)
  total(P, 'reported')
  redis.call('HINCRBY', P .. 'stats:reported_category', category, 1)
  log_event(P, c, 'registered', a[7], 'tier ' .. TIERS[tier] .. ', channel ' .. a[6])
  local jobs = {}
  notify(P, c, 'case.registered', 'grid:' .. grid, nil, jobs)
  return ok(case_reply(c, { duplicate = false, ledger = id, jobs = jobs }))
end

-- claim(P, stage, lease_ms, max): lease due items of pending:<stage> by
-- bumping their score, so another instance does not take them meanwhile.
local function claim(keys, a)
  local P, key = a[1], a[1] .. 'pending:' .. a[2]
  local now = now_ms()
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(a[4]))
  for _, m in ipairs(due) do redis.call('ZADD', key, 'XX', now + tonumber(a[3]), m) end
  return ok({ items = due, now = now })
end

-- offer(P, case_id, answer_ms, retry_ms, cand1, cand2, ...): candidates
-- come ranked by the caller (fit, connected, round robin); pick the first
-- untried one with the most spare capacity and commit the offer.
local function offer(keys, a)
  local P, id = a[1], a[2]
  local answer_ms, retry_ms = tonumber(a[3]), tonumber(a[4])
  local pkey = P .. 'pending:dispatch'
  local c = load_case(P, id)
  if not c then
    redis.call('ZREM', pkey, id)
    return fail('UNKNOWN_CASE', 'no case ' .. id)
  end
  local s = c.state
  if s ~= 'REGISTERED' and s ~= 'DISPATCHED' and s ~= 'REOPENED' and s ~= 'ESCALATED' then
    redis.call('ZREM', pkey, id)
    return fail('STALE', 'case ' .. id .. ' is ' .. s)
  end
  local jobs = {}
  local tried = P .. 'case:' .. id .. ':tried'
  local offer_by = tonumber(c.offer_by) or 0
  if s == 'DISPATCHED' and offer_by > 0 then
    if offer_by > c._now then
      redis.call('ZADD', pkey, offer_by, id)
      return fail('OFFER_LIVE', 'offer ' .. c.offer_id .. ' still open', { retry_at = offer_by })
    end
    redis.call('SADD', tried, c.offer_unit)
    total(P, 'offers_expired')
    log_event(P, c, 'offer_expired', 'dispatch', 'no answer from ' .. c.offer_unit ..
              ' by the deadline', { offer = c.offer_id })
    c.offer_by = 0
  end
  local best, best_spare, rank = nil, -1, 0
  local untried = 0
  for i = 5, #a do
    local u = a[i]
    if redis.call('SISMEMBER', tried, u) == 0 then
      untried = untried + 1
      local h = redis.call('HMGET', P .. 'unit:' .. u, 'capacity', 'open')
      local spare = (tonumber(h[1]) or 0) - (tonumber(h[2]) or 0)
      if spare > best_spare and spare > 0 then best, best_spare, rank = u, spare, i - 4 end
    end
  end
  if not best then
    if untried == 0 and #a >= 5 then redis.call('DEL', tried) end
    redis.call('ZADD', pkey, c._now + retry_ms, id)
    local why = (#a < 5) and 'no connected unit fits' or
                (untried == 0 and 'every fitting unit declined' or 'every fitting unit is at capacity')
    if c.waiting ~= why then
      c.waiting = why
      if s == 'DISPATCHED' then c.offer_id = ''; c.offer_unit = '' end
      save(P, c, { 'waiting', 'offer_by', 'offer_id', 'offer_unit' })
      log_event(P, c, 'waiting', 'dispatch', why)
    end
    return fail('NO_UNIT', why, { retry_at = c._now + retry_ms, jobs = jobs })
  end
  c.offer_id = tostring(redis.call('INCR', P .. 'seq:offer'))
  c.offer_unit = best
  c.offer_by = c._now + answer_ms
  c.waiting = ''
  move_state(P, c, 'DISPATCHED')
  save(P, c, { 'offer_id', 'offer_unit', 'offer_by', 'waiting' })
  redis.call('ZADD', pkey, c.offer_by, id)
  total(P, 'offers')
  log_event(P, c, 'offered', 'dispatch', string.format(
            'offered to %s: candidate %d of %d, spare capacity %d', best, rank,
            #a - 4, best_spare), { offer = c.offer_id, offer_unit = best,
            answer_by = c.offer_by })
  return ok(case_reply(c, { offer_id = c.offer_id, unit = best, answer_by = c.offer_by,
            ledger = c.ledger, grid = c.grid, category = c.category, text = c.text }))
end

-- unit_reply(P, kind, unit, offer_id, case_id, note, reason):
-- kind is accept, decline, progress or resolve. Idempotent by offer id.
local function unit_reply(keys, a)
  local P, kind, unit, offer_id, id, note, reason = a[1], a[2], a[3], a[4], a[5], a[6], a[7]
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  local jobs = {}
  local mine = (c.unit == unit and c.offer_id == offer_id)
  local live = (c.state == 'DISPATCHED' and c.offer_id == offer_id and c.offer_unit == unit)
  if kind == 'accept' then
    if c.state == 'ACCEPTED' and mine then return ok(case_reply(c, { duplicate = true })) end
    if not live then return fail('STALE', 'offer ' .. offer_id .. ' is not open for ' .. unit) end
    if tonumber(c.offer_by) < c._now then
      return fail('STALE', 'offer ' .. offer_id .. ' expired')
    end
    c.unit = unit; c.offer_by = 0
    c.responsible = redis.call('HGET', P .. 'unit:' .. unit, 'responsible') or ''
    move_state(P, c, 'ACCEPTED')
    save(P, c, { 'unit', 'offer_by', 'responsible' })
    redis.call('HINCRBY', P .. 'unit:' .. unit, 'open', 1)
    redis.call('SADD', P .. 'unit:' .. unit .. ':cases', id)
    redis.call('ZREM', P .. 'pending:dispatch', id)
    redis.call('DEL', P .. 'case:' .. id .. ':tried')
    log_event(P, c, 'accepted', unit, c.responsible ~= '' and ('responsible: ' .. c.responsible) or '',
              { offer = offer_id })
    notify(P, c, 'case.accepted', 'grid:' .. c.grid, nil, jobs)
    return ok(case_reply(c, { jobs = jobs }))
  elseif kind == 'decline' then
    if redis.call('SISMEMBER', P .. 'case:' .. id .. ':tried', unit) == 1 and not live then
      return ok(case_reply(c, { duplicate = true }))
    end
    if not live then return fail('STALE', 'offer ' .. offer_id .. ' is not open for ' .. unit) end
    redis.call('SADD', P .. 'case:' .. id .. ':tried', unit)
    c.offer_by = 0
    save(P, c, { 'offer_by' })
    redis.call('ZADD', P .. 'pending:dispatch', c._now, id)
    total(P, 'declines')
    log_event(P, c, 'declined', unit, reason .. (note ~= '' and (': ' .. note) or ''),
              { offer = offer_id })
    return ok(case_reply(c, { redispatch = true }))
  end
  -- progress and resolve belong to the unit that holds the case
  if c.unit ~= unit or c.offer_id ~= offer_id then
    return fail('NOT_PERMITTED', 'case ' .. id .. ' is not held by ' .. unit .. ' under offer ' .. offer_id)
  end
  if kind == 'progress' then
    if c.state ~= 'ACCEPTED' then return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state) end
    log_event(P, c, 'progress', unit, note)
    return ok(case_reply(c, {}))
  elseif kind == 'resolve' then
    if c.state == 'RESOLVED' or c.state == 'VERIFIED' or c.state == 'CLOSED' then
      return ok(case_reply(c, { duplicate = true }))
    end
    if c.state ~= 'ACCEPTED' then return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state) end
    local ontime = c._now <= tonumber(c.resolve_by)
    c.resolved = c._now
    move_state(P, c, 'RESOLVED')
    save(P, c, { 'resolved' })
    redis.call('HINCRBY', P .. 'unit:' .. unit, 'open', -1)
    redis.call('SREM', P .. 'unit:' .. unit .. ':cases', id)
    redis.call('ZREM', P .. 'timers', id .. '|deadline')
    total(P, 'resolved')
    if ontime then total(P, 'resolved_on_time') end
    log_event(P, c, 'resolved', unit, note)
    notify(P, c, 'case.resolved', 'grid:' .. c.grid, note, jobs)
    return ok(case_reply(c, { jobs = jobs }))
  end
  return fail('PROTOCOL', 'unknown reply kind ' .. kind)
end

-- verify(P, case_id, pass, note, who, scale)
local function verify(keys, a)
  local P, id, pass, note, who = a[1], a[2], a[3] == '1', a[4], a[5]
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  if pass and (c.state == 'VERIFIED' or c.state == 'CLOSED') then
    return ok(case_reply(c, { duplicate = true }))
  end
  if c.state ~= 'RESOLVED' then
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ', not RESOLVED')
  end
  local jobs = {}
  if pass then
    move_state(P, c, 'VERIFIED')
    log_event(P, c, 'verified', who, note)
    move_state(P, c, 'CLOSED')
    c.closed = c._now
    save(P, c, { 'closed' })
    total(P, 'closed')
    log_event(P, c, 'closed', who, '')
    notify(P, c, 'case.closed', 'reporter:' .. (c.reporter or ''), nil, jobs)
  else
    move_state(P, c, 'REOPENED')
    c.unit = ''; c.offer_id = ''; c.offer_unit = ''; c.offer_by = 0
    c.resolve_by = c._now + limit_ms(P, c.category, tonumber(c.tier), tonumber(a[6]) or 1)
    save(P, c, { 'unit', 'offer_id', 'offer_unit', 'offer_by', 'resolve_by' })
    redis.call('ZADD', P .. 'timers', c.resolve_by, id .. '|deadline')
    redis.call('ZADD', P .. 'pending:dispatch', c._now, id)
    total(P, 'reopened')
    log_event(P, c, 'reopened', who, note)
    notify(P, c, 'case.reopened', 'grid:' .. c.grid, note, jobs)
  end
  return ok(case_reply(c, { jobs = jobs, redispatch = not pass }))
end

-- evaluate(P, case_id, score, comment, who)
local function evaluate(keys, a)
  local P, id, score = a[1], a[2], tonumber(a[3])
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  if c.state ~= 'CLOSED' then
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ', not CLOSED')
  end
  if c.satisfaction and c.satisfaction ~= '' then
    if tonumber(c.satisfaction) == score then return ok(case_reply(c, { duplicate = true })) end
    return fail('WRONG_STATE', 'case ' .. id .. ' was already evaluated')
  end
  c.satisfaction = score
  save(P, c, { 'satisfaction' })
  total(P, 'evaluated'); total(P, 'satisfaction_sum', score)
  log_event(P, c, 'evaluated', a[5], score .. '/5' .. (a[4] ~= '' and (': ' .. a[4]) or ''))
  return ok(case_reply(c, {}))
end

-- fire(P, max, scale, repeat_ms): claim due timers and act on each, in due
-- order. A climb re-bases the deadline on the due time, not on now, so a
-- late escalate catches up on every climb it missed.
local function fire(keys, a)
  local P, max, scale, repeat_ms = a[1], tonumber(a[2]), tonumber(a[3]), tonumber(a[4])
  local now = now_ms()
  local due = redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', now, 'WITHSCORES',
                         'LIMIT', 0, max)
  local fired, jobs, wake = {}, {}, {}
  for i = 1, #due, 2 do
    local member, at = due[i], tonumber(due[i + 1])
    redis.call('ZREM', P .. 'timers', member)
    local id = string.match(member, '^(.*)|deadline$')
    local c = id and load_case(P, id)
    if c and OPEN[c.state] and c.state ~= 'RESOLVED' and tonumber(c.resolve_by) == at then
      local tier = tonumber(c.tier)
      local late = now - at
      if tier < #TIERS then
        if c.state == 'ACCEPTED' then
          redis.call('HINCRBY', P .. 'unit:' .. c.unit, 'open', -1)
          redis.call('SREM', P .. 'unit:' .. c.unit .. ':cases', id)
        end
        local from = TIERS[tier]
        c.tier = tier + 1
        -- counters follow the tier: leave the old tier's open count
        redis.call('HINCRBY', P .. 'stats:open_tier', from, -1)
        redis.call('HINCRBY', P .. 'stats:open_tier', TIERS[tier + 1], 1)
        c.unit = ''; c.offer_id = ''; c.offer_unit = ''; c.offer_by = 0; c.waiting = ''
        c.resolve_by = at + limit_ms(P, c.category, tier + 1, scale)
        move_state(P, c, 'ESCALATED')
        save(P, c, { 'tier', 'unit', 'offer_id', 'offer_unit', 'offer_by', 'waiting', 'resolve_by' })
        redis.call('DEL', P .. 'case:' .. id .. ':tried')
        redis.call('ZADD', P .. 'timers', c.resolve_by, id .. '|deadline')
        redis.call('ZADD', P .. 'pending:dispatch', now, id)
        total(P, 'escalations')
        log_event(P, c, 'escalated', 'escalate', 'deadline passed at ' .. from ..
                  '; climbs to ' .. TIERS[tier + 1], { late_ms = late, due = at })
        notify(P, c, 'case.escalated', 'tier:' .. TIERS[tier + 1], nil, jobs)
        table.insert(wake, id)
      else
        c.resolve_by = at + repeat_ms
        save(P, c, { 'resolve_by' })
        redis.call('ZADD', P .. 'timers', c.resolve_by, id .. '|deadline')
        total(P, 'overdue_repeats')
        log_event(P, c, 'overdue', 'escalate', 'still overdue at the top tier',
                  { late_ms = late, due = at })
        notify(P, c, 'case.overdue', 'tier:' .. TIERS[tier], nil, jobs)
      end
      table.insert(fired, { id = id, late_ms = late, tier = tonumber(c.tier) })
    end
  end
  local nxt = redis.call('ZRANGE', P .. 'timers', 0, 0, 'WITHSCORES')
  return ok({ fired = fired, jobs = jobs, wake = wake, now = now,
              next_due = tonumber(nxt[2]) or 0, scanned = #due / 2 })
end

-- job_get(P, job_id): a notification job (event, case, grid, tier, ...).
local function job_get(keys, a)
  local j = hgetall(a[1] .. 'job:' .. a[2])
  if not j then return fail('UNKNOWN_JOB', 'no job ' .. a[2]) end
  j.id = a[2]
  return ok(j)
end

-- job_done(P, job_id, done_mask, retry_ms, max_attempts): done_mask names
-- the targets delivered so far; retry_ms 0 means every target is done.
local function job_done(keys, a)
  local P, id = a[1], a[2]
  local key = P .. 'job:' .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', P .. 'pending:notify', id)
    return ok({ gone = true })
  end
  if tonumber(a[4]) == 0 then
    redis.call('DEL', key)
    redis.call('ZREM', P .. 'pending:notify', id)
    total(P, 'notified')
    return ok({ done = true })
  end
  local attempts = redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'done', a[3])
  if attempts >= tonumber(a[5]) then
    redis.call('ZREM', P .. 'pending:notify', id)
    redis.call('ZADD', P .. 'dead:notify', now_ms(), id)
    total(P, 'notify_dead')
    return ok({ dead = true, attempts = attempts })
  end
  redis.call('ZADD', P .. 'pending:notify', now_ms() + tonumber(a[4]), id)
  return ok({ retry = true, attempts = attempts })
end

-- case_get(P, case_id): the case and its timeline.
local function case_get(keys, a)
  local c = hgetall(a[1] .. 'case:' .. a[2])
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. a[2]) end
  c.timeline = redis.call('LRANGE', a[1] .. 'case:' .. a[2] .. ':log', 0, -1)
  return ok({ case = c })
end

-- case_brief(P, id...): what dispatch needs to pick candidates, for a batch.
local function case_brief(keys, a)
  local out = {}
  for i = 2, #a do
    local h = redis.call('HMGET', a[1] .. 'case:' .. a[i], 'state', 'tier', 'grid', 'category')
    if h[1] then
      table.insert(out, { id = a[i], state = h[1], tier = tonumber(h[2]), grid = h[3],
                          category = h[4] })
    else
      redis.call('ZREM', a[1] .. 'pending:dispatch', a[i])
    end
  end
  return ok({ cases = out })
end

-- dir_version(P): the directory's version, to notice a reload cheaply.
local function dir_version(keys, a)
  return ok({ version = tonumber(redis.call('GET', a[1] .. 'dir:version')) or 0 })
end

-- unit_cases(P, unit): cases the unit holds (accepted, not resolved).
-- With each, what a unit needs to go on with it after a reconnect.
local function unit_cases(keys, a)
  local held = {}
  for _, id in ipairs(redis.call('SMEMBERS', a[1] .. 'unit:' .. a[2] .. ':cases')) do
    local h = redis.call('HMGET', a[1] .. 'case:' .. id, 'offer_id', 'ledger', 'grid', 'category',
                         'tier', 'text', 'resolve_by', 'unit', 'state')
    if h[8] == a[2] and h[9] == 'ACCEPTED' then
      table.insert(held, { case_id = id, offer_id = h[1], ledger = h[2], grid = h[3],
                           category = h[4], tier = tonumber(h[5]), text = h[6],
                           resolve_by = tonumber(h[7]) })
    end
  end
  return ok({ cases = held })
end

local function stats(keys, a)
  local P = a[1]
  local t = { now = now_ms() }
  for _, k in ipairs({ 'state', 'open_tier', 'open_grid', 'open_category', 'total',
                       'reported_category' }) do
    t[k] = hgetall(P .. 'stats:' .. k) or {}
  end
  t.pending = { dispatch = redis.call('ZCARD', P .. 'pending:dispatch'),
                notify = redis.call('ZCARD', P .. 'pending:notify') }
  t.timers = redis.call('ZCARD', P .. 'timers')
  t.dead = { notify = redis.call('ZCARD', P .. 'dead:notify') }
  return cjson.encode(t)
end

-- dir_load(P, json): replace the directory with a validated one (the CLI
-- validates it in C first). Unit load counters survive a reload.
local function dir_load(keys, a)
  local P = a[1]
  local d = cjson.decode(a[2])
  local old = redis.call('SMEMBERS', P .. 'dir:grids')
  for _, g in ipairs(old) do redis.call('DEL', P .. 'dir:grid:' .. g) end
  for _, c in ipairs(redis.call('SMEMBERS', P .. 'dir:cats')) do
    redis.call('DEL', P .. 'dir:cat:' .. c)
  end
  redis.call('DEL', P .. 'dir:grids', P .. 'dir:cats', P .. 'dir:units', P .. 'dir:street')
  local s = d.street
  redis.call('HSET', P .. 'dir:street', 'id', s.id, 'code', s.code, 'name', s.name,
             'utc_offset_minutes', s.utc_offset_minutes or 0)
  for _, g in ipairs(d.grids) do
    redis.call('HSET', P .. 'dir:grid:' .. g.id, 'name', g.name, 'community', g.community)
    redis.call('SADD', P .. 'dir:grids', g.id)
  end
  for _, c in ipairs(d.categories) do
    local args = { 'name', c.name, 'kind', c.kind,
                   'start_tier', ({ GRID = 1, COMMUNITY = 2, STREET = 3, DISTRICT = 4 })[c.start_tier] }
    for i, t in ipairs(TIERS) do
      if c.limits_minutes[t] then
        table.insert(args, 'limit_' .. i); table.insert(args, c.limits_minutes[t])
      end
    end
    redis.call('HSET', P .. 'dir:cat:' .. c.code, unpack(args))
    redis.call('SADD', P .. 'dir:cats', c.code)
  end
  for _, u in ipairs(d.units) do
    redis.call('HSET', P .. 'unit:' .. u.id, 'name', u.name, 'capacity', u.capacity,
               'responsible', u.responsible or '')
    redis.call('HSETNX', P .. 'unit:' .. u.id, 'open', 0)
    redis.call('SADD', P .. 'dir:units', u.id)
  end
  redis.call('SET', P .. 'dir:json', a[2])
  local v = redis.call('INCR', P .. 'dir:version')
  return ok({ version = v, grids = #d.grids, categories = #d.categories, units = #d.units })
end

local function dir_get(keys, a)
  local js = redis.call('GET', a[1] .. 'dir:json')
  if not js then return fail('NO_DIRECTORY', 'no directory loaded; run gridcall directory load FILE') end
  return ok({ version = tonumber(redis.call('GET', a[1] .. 'dir:version')), json = js })
end

redis.register_function('gc_register', register)
redis.register_function('gc_claim', claim)
redis.register_function('gc_offer', offer)
redis.register_function('gc_unit_reply', unit_reply)
redis.register_function('gc_verify', verify)
redis.register_function('gc_evaluate', evaluate)
redis.register_function('gc_fire', fire)
redis.register_function('gc_job_done', job_done)
redis.register_function('gc_dir_load', dir_load)
redis.register_function{ function_name = 'gc_job_get', callback = job_get, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_case_get', callback = case_get, flags = { 'no-writes' } }
redis.register_function('gc_case_brief', case_brief)
redis.register_function{ function_name = 'gc_dir_version', callback = dir_version, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_unit_cases', callback = unit_cases, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_stats', callback = stats, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_dir_get', callback = dir_get, flags = { 'no-writes' } }
