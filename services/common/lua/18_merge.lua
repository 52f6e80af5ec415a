-- Merge: an operator folds a duplicate case into the case kept (never
-- done automatically: register only suggests possible_duplicates). The
-- duplicate closes as MERGED with merged_into; case:<keep>:merged holds
-- the cases merged into keep, whose reporters hear when keep closes
-- (merged_close, called by verify).

-- States a duplicate may be merged from, and a kept case may be in.
local MERGE_FROM = { REGISTERED = true, DISPATCHED = true, ACCEPTED = true, REOPENED = true,
                     ESCALATED = true, PARKED = true, ORDERED = true }
local MERGE_INTO = { REGISTERED = true, DISPATCHED = true, ACCEPTED = true, REOPENED = true,
                     ESCALATED = true, RESOLVED = true, PARKED = true, ORDERED = true }

-- Take case c off the chain (park, merge): the unit that holds it (its
-- lead part not yet resolved) or was offered it gives it back and is told
-- (withdrawn, reason a WithdrawReason name), its parties are released and
-- it waits for no unit. Returns the unit that held it ('' when none). The
-- caller clears the case's unit and offer fields and saves.
local function take_back(P, c, reason, note)
  local held = c.unit or ''
  if c.state == 'ACCEPTED' and held ~= '' then
    -- a lead that already resolved its part gave its load back then
    if (c.lead_resolved or '') == '' then unit_drop(P, held, c.id) end
    withdraw(P, c, held, c.offer_id, reason, note)
  end
  withdraw_parties(P, c, reason, note)
  redis.call('ZREM', P .. 'dispatch:waiting', c.id)
  if (c.offer_unit or '') ~= '' then
    unit_drop(P, c.offer_unit, c.id)
    if c.state == 'DISPATCHED' then withdraw(P, c, c.offer_unit, c.offer_id, reason, note) end
  end
  release_parties(P, c, nil)
  return held
end

-- merge(P, keep, dup, who, note[, by])
local function merge(keys, a)
  local P, keep_id, dup_id, who, note = a[1], a[2], a[3], a[4] or '', a[5] or ''
  if keep_id == dup_id then return fail('BAD_VALUE', 'a case cannot be merged into itself') end
  local d = load_case(P, dup_id)
  if not d then return fail('UNKNOWN_CASE', 'no case ' .. dup_id) end
  local k = load_case(P, keep_id, { 'state', 'tier', 'grid', 'category', 'version', 'resolve_by',
                                    'ledger', 'community', 'via', 'followers' })
  if not k then return fail('UNKNOWN_CASE', 'no case ' .. keep_id) end
  d._by, k._by = a[6], a[6]
  if d.state == 'MERGED' then
    if d.merged_into == keep_id then return ok(case_reply(d, { duplicate = true })) end
    return fail('WRONG_STATE', 'case ' .. dup_id .. ' was already merged into ' .. (d.merged_into or '?'))
  end
  if not MERGE_FROM[d.state] then
    return fail('WRONG_STATE', 'case ' .. dup_id .. ' is ' .. d.state .. ': only a case not yet '
                .. 'resolved or closed can be merged')
  end
  if not MERGE_INTO[k.state] then
    return fail('WRONG_STATE', 'case ' .. keep_id .. ' is ' .. k.state .. ': a case is merged into '
                .. 'one still open')
  end
  -- off the chain, as park takes it: the unit that holds it or was offered
  -- it is told (withdrawn), its load and its parties released, its timers,
  -- waits and late marks gone
  take_back(P, d, 'MERGED', 'merged into ' .. keep_id)
  redis.call('ZREM', P .. 'pending:dispatch', dup_id)
  redis.call('ZREM', P .. 'idx:overdue', dup_id)
  redis.call('ZREM', P .. 'timers', dup_id .. '|deadline')
  d.merged_into = keep_id
  d.closed = d._now
  d.light = ''
  d.unit = ''; d.offer_id = ''; d.offer_unit = ''; d.offer_by = 0; d.waiting = ''
  move_state(P, d, 'MERGED')
  save(P, d, { 'merged_into', 'closed', 'light', 'unit', 'offer_id', 'offer_unit', 'offer_by',
               'waiting', 'lead_resolved' })
  -- the reporters of cases merged into the duplicate follow keep too
  local followers = redis.call('SMEMBERS', P .. 'case:' .. dup_id .. ':merged')
  for _, id in ipairs(followers) do
    redis.call('HSET', P .. 'case:' .. id, 'merged_into', keep_id)
  end
  redis.call('SADD', P .. 'case:' .. keep_id .. ':merged', dup_id, unpack(followers))
  redis.call('DEL', P .. 'case:' .. dup_id .. ':merged')
  -- the principals that reported the duplicate and what was merged into
  -- it follow keep: their gateways' webhooks hear of its events
  local seen, list = {}, {}
  for p in string.gmatch((k.followers or '') .. ' ' .. (d.via or '') .. ' ' .. (d.followers or ''),
                         '%S+') do
    if not seen[p] and p ~= (k.via or '') then seen[p] = true; table.insert(list, p) end
  end
  if table.concat(list, ' ') ~= (k.followers or '') then
    k.followers = table.concat(list, ' ')
    save(P, k, { 'followers' })
  end
  total(P, 'merged')
  local text = note ~= '' and (': ' .. note) or ''
  local jobs = {}
  log_event(P, d, 'merged', who, 'merged into ' .. keep_id .. text, { merged_into = keep_id },
            { 'case.merged', 'reporter:' .. dup_id })
  log_event(P, k, 'merged_in', who, dup_id .. ' merged into this case' .. text,
            { duplicate = dup_id })
  for _, id in ipairs(d._jobs or {}) do table.insert(jobs, id) end
  audit(P, who, a[6], 'merge', dup_id, 'into ' .. keep_id .. text)
  if (d.matter or '') ~= '' then matter_task_dropped(P, d, who, 'merged into ' .. keep_id .. text) end
  return ok(case_reply(d, { jobs = jobs, merged_into = keep_id }))
end

-- When kept case c closes: every case merged into it says so on its
-- timeline and tells its reporter (a case.closed job to reporter:<its id>);
-- the jobs join c's reply, so the caller wakes notify for them too.
local function merged_close(P, c, who)
  local ids = redis.call('SMEMBERS', P .. 'case:' .. c.id .. ':merged')
  if #ids == 0 then return end
  table.sort(ids)
  c._jobs = c._jobs or {}
  c._job_info = c._job_info or {}
  for _, id in ipairs(ids) do
    local d = load_case(P, id, { 'state', 'tier', 'grid', 'category', 'version', 'resolve_by',
                                 'ledger', 'via' })
    if d then
      log_event(P, d, 'kept_closed', who, 'case ' .. c.id .. ', into which this one was merged, '
                .. 'is closed', { kept = c.id }, { 'case.closed', 'reporter:' .. id })
      for i, j in ipairs(d._jobs or {}) do
        table.insert(c._jobs, j)
        table.insert(c._job_info, d._job_info[i])
      end
      c._job_case = c._job_case or {}
      c._job_case[id] = d
    end
  end
end

redis.register_function('gc_merge', merge)
