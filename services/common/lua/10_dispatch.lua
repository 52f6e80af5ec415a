-- Dispatch: offers, unit replies, what units hold.

-- A newly registered case goes to dispatch at once.
local function route_new(P, c)
  redis.call('ZADD', P .. 'pending:dispatch', c._now, c.id)
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
    redis.call('ZADD', P .. 'idx:unit:' .. unit, c.created, id)
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

redis.register_function('gc_offer', offer)
redis.register_function('gc_unit_reply', unit_reply)
redis.register_function('gc_case_brief', case_brief)
redis.register_function{ function_name = 'gc_unit_cases', callback = unit_cases, flags = { 'no-writes' } }
