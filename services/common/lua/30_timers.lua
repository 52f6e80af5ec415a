-- Timers: reminders fall due, deadlines pass and cases climb tiers, parked
-- cases come back on their review date. Overdue figures live here too:
-- idx:overdue holds the open cases that passed a deadline (score: when
-- they first went red); parking takes a case out of it.

-- Units a case of this category summons at a tier (the community call):
-- the directory's joint_by_tier, else joint_units, else 1.
local function joint_rule(P, category, tier)
  local cat = dir_cat(P, category) or {}
  return tonumber(cat['joint_' .. tier]) or tonumber(cat.joint_units) or 1
end

-- A parked case comes back: dispatched again at its tier with a fresh
-- clock from from_ms (its review time, or now by hand). The caller has
-- checked the state; it saves here.
local function unpark_case(P, c, from_ms, who, note, scale, jobs)
  c.review_at = 0
  move_state(P, c, 'REOPENED')
  c.unit = ''; c.offer_id = ''; c.offer_unit = ''; c.offer_by = 0; c.waiting = ''
  start_clock(P, c, from_ms, scale)
  save(P, c, { 'review_at', 'unit', 'offer_id', 'offer_unit', 'offer_by', 'waiting',
               'resolve_by' })
  redis.call('DEL', P .. 'case:' .. c.id .. ':tried')
  redis.call('ZADD', P .. 'pending:dispatch', c._now, c.id)
  total(P, 'unparked')
  log_event(P, c, 'unparked', who, note)
  notify(P, c, 'case.unparked', 'tier:' .. TIERS[tonumber(c.tier)], note, jobs)
  if (c.matter or '') ~= '' then matter_task_back(P, c, who, note) end
end

-- Who answers for case c at its tier: the named person of the liaison
-- chain for its grid (07_people tier_person) as 'person:<id>', else the
-- tier; with the words the timeline note adds ('; reminds NAME (title, id)').
local function tier_audience(P, c, verb)
  local pid, pname, ptitle = tier_person(P, c.grid, tonumber(c.tier))
  if not pid then return 'tier:' .. TIERS[tonumber(c.tier)], '' end
  return 'person:' .. pid, '; ' .. (verb or 'reminds') .. ' ' .. pname .. ' (' .. ptitle .. ', ' .. pid .. ')'
end

-- The yellow light: a reminder to whoever handles the case, then the
-- timer moves on to the deadline.
local function remind(P, c, at, jobs)
  c.light = 'yellow'
  save(P, c, { 'light' })
  total(P, 'reminders')
  local _, working, fraction = clock_rule(P, c.category, tonumber(c.tier))
  local audience, named = tier_audience(P, c)
  log_event(P, c, 'reminder', 'escalate', string.format('%d%% of the %s limit used (%s time); deadline %d',
            math.floor(fraction * 100 + 0.5), TIERS[tonumber(c.tier)],
            working and 'working' or 'wall', tonumber(c.resolve_by)) .. named,
            { late_ms = c._now - at, due = at, light = 'yellow' })
  -- the unit holding the case is reminded; so is the tier's named person
  -- (or the tier), who answers for the case in the ledger
  if (c.unit or '') ~= '' then notify(P, c, 'case.reminder', 'unit:' .. c.unit, nil, jobs) end
  notify(P, c, 'case.reminder', audience, nil, jobs)
  redis.call('ZADD', P .. 'timers', c.resolve_by, c.id .. '|deadline')
end

-- The red light at tier < top: climb one tier, re-based on the due time
-- (a late escalate catches up on every climb it missed), summon the new
-- tier's units, notify its leaders.
local function climb(P, c, at, scale, jobs)
  local id, tier = c.id, tonumber(c.tier)
  local from = TIERS[tier]
  local held = ''
  if c.state == 'ACCEPTED' and (c.unit or '') ~= '' then
    -- the holding unit gives the case back (docs/escalation.md); a lead
    -- that already resolved its part gave its load back then
    held = c.unit
    withdraw(P, c, held, c.offer_id, 'ESCALATED', 'deadline passed at ' .. from)
    if (c.lead_resolved or '') == '' then unit_drop(P, c.unit, id) end
  end
  withdraw_parties(P, c, 'ESCALATED', 'deadline passed at ' .. from)
  -- released now, not at the next offer round: a part reported in between
  -- would count for a case that has moved on
  release_parties(P, c, 'deadline passed at ' .. from)
  c.tier = tier + 1
  c.prev_unit = held
  -- a waiting offer stops counting against its unit's spare capacity
  if (c.offer_unit or '') ~= '' then
    unit_drop(P, c.offer_unit, id)
    if c.state == 'DISPATCHED' then
      withdraw(P, c, c.offer_unit, c.offer_id, 'ESCALATED', 'deadline passed at ' .. from)
    end
  end
  c.unit = ''; c.offer_id = ''; c.offer_unit = ''; c.offer_by = 0; c.waiting = ''
  c.joint = joint_rule(P, c.category, tier + 1)
  c.climbs = (tonumber(c.climbs) or 0) + 1
  start_clock(P, c, at, scale)
  move_state(P, c, 'ESCALATED')
  -- the new tier's named person for this grid (五级包联) is called by name
  -- and answers for the case in the ledger
  local pid, pname, ptitle = tier_person(P, c.grid, tier + 1)
  c.liaison = pid and (pname .. ' (' .. pid .. ')') or ''
  save(P, c, { 'tier', 'unit', 'prev_unit', 'offer_id', 'offer_unit', 'offer_by', 'waiting',
               'resolve_by', 'joint', 'climbs', 'liaison', 'lead_resolved' })
  redis.call('DEL', P .. 'case:' .. id .. ':tried')
  redis.call('ZADD', P .. 'pending:dispatch', c._now, id)
  redis.call('ZADD', P .. 'idx:overdue', 'NX', at, id)
  total(P, 'escalations')
  local note = 'deadline passed at ' .. from .. '; climbs to ' .. TIERS[tier + 1]
  if c.joint > 1 then note = note .. '; community call: ' .. c.joint .. ' units (lead and assisting)' end
  if held ~= '' then note = note .. '; ' .. held .. ' gives the case back' end
  if pid then note = note .. '; calls ' .. pname .. ' (' .. ptitle .. ', ' .. pid .. ')' end
  -- late cases for the red list, until they close (00_core move_state)
  redis.call('ZADD', P .. 'idx:late', c.created, id)
  log_event(P, c, 'escalated', 'escalate', note,
            { late_ms = c._now - at, due = at, from_tier = tier, joint = c.joint,
              prev_unit = held, light = 'red' })
  notify(P, c, 'case.escalated', pid and ('person:' .. pid) or ('tier:' .. TIERS[tier + 1]), note, jobs)
  if (c.matter or '') ~= '' then matter_task_event(P, c, 'task_escalated', 'escalate', note) end
end

-- The red light at the top tier: stays red, re-notified every repeat_ms.
local function overdue_top(P, c, at, repeat_ms, jobs)
  c.resolve_by = at + repeat_ms
  c.light = 'red'
  c.overdue_notices = (tonumber(c.overdue_notices) or 0) + 1
  save(P, c, { 'resolve_by', 'light', 'overdue_notices' })
  redis.call('ZADD', P .. 'timers', c.resolve_by, c.id .. '|deadline')
  redis.call('ZADD', P .. 'idx:overdue', 'NX', at, c.id)
  total(P, 'overdue_repeats')
  redis.call('ZADD', P .. 'idx:late', c.created, c.id)
  local audience, named = tier_audience(P, c, 'calls')
  log_event(P, c, 'overdue', 'escalate', 'still overdue at the top tier (notice ' ..
            c.overdue_notices .. ')' .. named, { late_ms = c._now - at, due = at, light = 'red' })
  notify(P, c, 'case.overdue', audience, nil, jobs)
end

-- A resolved case the grid worker has not verified in time: the grid is
-- reminded, then the community on every later notice, and the clock re-arms.
local function verify_overdue(P, c, at, jobs)
  c.verify_notices = (tonumber(c.verify_notices) or 0) + 1
  start_verify_clock(P, c, at)
  save(P, c, { 'verify_by', 'verify_notices' })
  total(P, 'verify_overdue')
  local audience = c.verify_notices == 1 and ('grid:' .. c.grid) or ('community:' .. (c.community or ''))
  log_event(P, c, 'verify_overdue', 'escalate', 'resolved but not verified in time (notice ' ..
            c.verify_notices .. ', to ' .. audience .. ')', { due = at, late_ms = c._now - at })
  notify(P, c, 'case.verify_overdue', audience, nil, jobs)
end

-- fire(P, max, scale, repeat_ms): claim due timers and act on each, in due
-- order, in one atomic step: a timer fires once however many escalate
-- instances run. Each firing is fenced by the case's own due fields.
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
    local kind = nil
    if c and c.state == 'PARKED' then
      if tonumber(c.review_at) == at then
        unpark_case(P, c, at, 'escalate', 'review date reached', scale, jobs)
        kind = 'review'
      end
    elseif c and c.state == 'RESOLVED' then
      if tonumber(c.verify_by) == at then
        verify_overdue(P, c, at, jobs)
        kind = 'verify'
      end
    elseif c and OPEN[c.state] then
      local tier = tonumber(c.tier)
      if tonumber(c.remind_at) == at and (c.light or '') == '' and at < tonumber(c.resolve_by) then
        remind(P, c, at, jobs)
        kind = 'reminder'
      elseif tonumber(c.resolve_by) == at then
        if tier < #TIERS then
          climb(P, c, at, scale, jobs)
          kind = 'climb'
        else
          overdue_top(P, c, at, repeat_ms, jobs)
          kind = 'overdue'
        end
      end
    elseif c then
      redis.call('ZREM', P .. 'idx:overdue', id)
    end
    if kind then
      if kind == 'climb' or kind == 'review' then table.insert(wake, id) end
      table.insert(fired, { id = id, kind = kind, late_ms = now - at, due = at,
                            tier = tonumber(c.tier) })
    end
  end
  local nxt = redis.call('ZRANGE', P .. 'timers', 0, 0, 'WITHSCORES')
  return ok({ fired = fired, jobs = jobs, wake = wake, now = now,
              next_due = tonumber(nxt[2]) or 0, scanned = #due / 2 })
end

-- timer_stats(P): pending timers, overdue and parked cases, the next due.
local function timer_stats(keys, a)
  local P = a[1]
  local nxt = redis.call('ZRANGE', P .. 'timers', 0, 0, 'WITHSCORES')
  local overdue = 0
  for _, id in ipairs(redis.call('ZRANGE', P .. 'idx:overdue', 0, -1)) do
    local s = redis.call('HGET', P .. 'case:' .. id, 'state')
    if s and OPEN[s] and s ~= 'RESOLVED' then overdue = overdue + 1 end
  end
  return ok({ now = now_ms(), timers = redis.call('ZCARD', P .. 'timers'),
              next_due = tonumber(nxt[2]) or 0, overdue = overdue,
              parked = redis.call('ZCARD', P .. 'idx:state:PARKED'),
              totals = totals(P) })
end

redis.register_function('gc_fire', fire)
redis.register_function{ function_name = 'gc_timer_stats', callback = timer_stats, flags = { 'no-writes' } }
