-- Extension (延期) and parking (挂账). The handling unit asks for more time,
-- the tier's operator approves or refuses, or extends directly; either way
-- the clock is re-based on the new deadline. A case that cannot be solved
-- now is parked with a reason and a review date: it leaves the open and
-- overdue figures and comes back (REOPENED, dispatched again at its tier)
-- on the review date, or earlier by hand. Times given are case time in ms
-- since the epoch (05_clock.lua); every step goes to the timeline.

-- States in which a case can be extended or parked.
local WORKING = { REGISTERED = true, DISPATCHED = true, ACCEPTED = true,
                  REOPENED = true, ESCALATED = true }
-- The furthest a deadline or review date may be set: a year of case time.
local AHEAD_MAX_MS = 366 * 86400000

local function fmt_case_time(P, x)
  local off = (tonumber(redis.call('HGET', P .. 'dir:street', 'utc_offset_minutes')) or 0) * 60000
  local loc = x + off
  local day = math.floor(loc / 86400000)
  local m = math.floor((loc - day * 86400000) / 60000)
  local d = ymd(day)
  return string.format('%s-%s-%s %02d:%02d', d:sub(1, 4), d:sub(5, 6), d:sub(7, 8),
                       math.floor(m / 60), m % 60)
end

-- extend_request(P, case_id, unit, offer_id, until_case_ms, reason, scale):
-- the unit holding the case asks for a deadline of until_case_ms.
local function extend_request(keys, a)
  local P, id, unit, offer_id, until_c, reason = a[1], a[2], a[3], a[4], tonumber(a[5]), a[6] or ''
  local scale = tonumber(a[7]) or 1
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  if not until_c or reason == '' then
    return fail('BAD_VALUE', 'an extension needs a new deadline and a reason')
  end
  if timeline_full(P, id) then return fail('BAD_VALUE', 'the timeline of ' .. id .. ' is full') end
  if offer_id ~= '' and c.offer_id ~= offer_id and marks_has(P, c, 'void_offers', unit .. ':' .. offer_id) then
    -- this unit's offer, taken back (withdrawn): as unit_reply answers
    return fail('STALE', 'offer ' .. offer_id .. ' of case ' .. id .. ' was withdrawn (the case is '
                .. c.state .. ')')
  end
  if c.state ~= 'ACCEPTED' or c.unit ~= unit or (offer_id ~= '' and c.offer_id ~= offer_id) then
    return fail('NOT_PERMITTED', 'case ' .. id .. ' is not held by ' .. unit ..
                (offer_id ~= '' and (' under offer ' .. offer_id) or ''))
  end
  if (c.ext_by or '') == unit and tonumber(c.ext_until) == until_c then
    return ok(case_reply(c, { duplicate = true }))
  end
  if until_c <= to_case(P, tonumber(c.resolve_by), scale) then
    return fail('BAD_VALUE', 'the new deadline ' .. fmt_case_time(P, until_c) ..
                ' is not after the current one')
  end
  if until_c > to_case(P, c._now, scale) + AHEAD_MAX_MS then
    return fail('BAD_VALUE', 'the new deadline is more than a year ahead')
  end
  c.ext_until = until_c; c.ext_by = unit; c.ext_reason = reason; c.ext_at = c._now
  save(P, c, { 'ext_until', 'ext_by', 'ext_reason', 'ext_at' })
  total(P, 'extension_requests')
  log_event(P, c, 'extension_requested', unit, reason,
            { until_case = until_c, until_local = fmt_case_time(P, until_c) })
  local jobs = {}
  notify(P, c, 'case.extension_requested', 'tier:' .. TIERS[tonumber(c.tier)],
         'until ' .. fmt_case_time(P, until_c) .. ': ' .. reason, jobs)
  return ok(case_reply(c, { jobs = jobs, until_case = until_c }))
end

-- extend_decide(P, case_id, who, verb, until_case_ms, reason, scale[, by]): verb
-- "approve" (the pending request; until 0 = as requested), "refuse" it, or
-- "extend" directly to until. Approving or extending re-bases the clock.
local function extend_decide(keys, a)
  local P, id, who, verb, until_c, reason = a[1], a[2], a[3], a[4], tonumber(a[5]) or 0, a[6] or ''
  local scale = tonumber(a[7]) or 1
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  c._by = a[8]
  if who == '' or reason == '' then return fail('BAD_VALUE', 'who decides, and why, is required') end
  if verb ~= 'approve' and verb ~= 'refuse' and verb ~= 'extend' then
    return fail('BAD_VALUE', 'verb must be approve, refuse or extend')
  end
  local pending = (c.ext_by or '') ~= ''
  if verb == 'approve' and until_c == 0 then until_c = tonumber(c.ext_until) or 0 end
  if not pending and verb ~= 'refuse' and until_c > 0 and tonumber(c.extended_until) == until_c then
    return ok(case_reply(c, { duplicate = true }))
  end
  if not WORKING[c.state] then
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ': nothing to extend')
  end
  if (verb == 'approve' or verb == 'refuse') and not pending then
    return fail('WRONG_STATE', 'case ' .. id .. ' has no extension request')
  end
  local jobs = {}
  local asked_by = c.ext_by or ''
  local audience = (c.unit or '') ~= '' and ('unit:' .. c.unit) or ('tier:' .. TIERS[tonumber(c.tier)])
  c.ext_until = ''; c.ext_by = ''; c.ext_reason = ''; c.ext_at = ''
  if verb == 'refuse' then
    save(P, c, { 'ext_until', 'ext_by', 'ext_reason', 'ext_at' })
    total(P, 'extensions_refused')
    log_event(P, c, 'extension_refused', who, reason, { requested_by = asked_by })
    notify(P, c, 'case.extension_refused', audience, reason, jobs)
    audit(P, who, a[8], 'extend.refuse', id, reason)
    return ok(case_reply(c, { jobs = jobs }))
  end
  if until_c <= to_case(P, c._now, scale) then
    return fail('BAD_VALUE', 'the new deadline ' .. fmt_case_time(P, until_c) .. ' has passed')
  end
  if until_c > to_case(P, c._now, scale) + AHEAD_MAX_MS then
    return fail('BAD_VALUE', 'the new deadline is more than a year ahead')
  end
  local old = tonumber(c.resolve_by)
  rebase_clock(P, c, c._now, to_wall(P, until_c, scale, c._now))
  c.extended_until = until_c
  c.extensions = (tonumber(c.extensions) or 0) + 1
  save(P, c, { 'ext_until', 'ext_by', 'ext_reason', 'ext_at', 'resolve_by', 'extended_until',
               'extensions' })
  total(P, 'extensions')
  log_event(P, c, 'extended', who, reason,
            { until_case = until_c, until_local = fmt_case_time(P, until_c), old_deadline = old,
              requested_by = asked_by, remind_at = c.remind_at })
  notify(P, c, 'case.extended', audience, 'until ' .. fmt_case_time(P, until_c) .. ': ' .. reason, jobs)
  audit(P, who, a[8], verb == 'extend' and 'extend.direct' or 'extend.approve', id,
        'until ' .. fmt_case_time(P, until_c) .. ': ' .. reason)
  return ok(case_reply(c, { jobs = jobs, until_case = until_c }))
end

-- park(P, case_id, who, review_case_ms, reason, scale[, by]): park the case
-- until its review date. Parking a parked case again moves the date.
local function park(keys, a)
  local P, id, who, review_c, reason = a[1], a[2], a[3], tonumber(a[4]), a[5] or ''
  local scale = tonumber(a[6]) or 1
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  c._by = a[7]
  if who == '' or reason == '' or not review_c then
    return fail('BAD_VALUE', 'parking needs who, a reason and a review date')
  end
  if review_c <= to_case(P, c._now, scale) then
    return fail('BAD_VALUE', 'the review date ' .. fmt_case_time(P, review_c) .. ' has passed')
  end
  if review_c > to_case(P, c._now, scale) + AHEAD_MAX_MS then
    return fail('BAD_VALUE', 'the review date is more than a year ahead')
  end
  local review_at = to_wall(P, review_c, scale, c._now)
  local jobs = {}
  if c.state == 'PARKED' then
    if tonumber(c.review_at) == review_at then return ok(case_reply(c, { duplicate = true })) end
    c.review_at = review_at
    save(P, c, { 'review_at' })
    redis.call('ZADD', P .. 'timers', review_at, id .. '|deadline')
    log_event(P, c, 'park_review_moved', who, reason,
              { review = review_c, review_local = fmt_case_time(P, review_c) })
    audit(P, who, a[7], 'park.move', id, 'review ' .. fmt_case_time(P, review_c) .. ': ' .. reason)
    return ok(case_reply(c, { jobs = jobs, review_at = review_at }))
  end
  if not WORKING[c.state] then
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ': it cannot be parked')
  end
  local held = take_back(P, c, 'PARKED', reason)
  c.parked_from = c.state
  c.parked_unit = held
  c.review_at = review_at
  c.park_reason = reason
  c.light = ''
  c.unit = ''; c.offer_id = ''; c.offer_unit = ''; c.offer_by = 0; c.waiting = ''
  move_state(P, c, 'PARKED')
  save(P, c, { 'parked_from', 'parked_unit', 'review_at', 'park_reason', 'light', 'unit',
               'offer_id', 'offer_unit', 'offer_by', 'waiting', 'lead_resolved' })
  redis.call('ZREM', P .. 'pending:dispatch', id)
  redis.call('ZREM', P .. 'idx:overdue', id)
  redis.call('ZADD', P .. 'timers', review_at, id .. '|deadline')
  total(P, 'parked')
  log_event(P, c, 'parked', who, reason,
            { review = review_c, review_local = fmt_case_time(P, review_c), review_at = review_at,
              prev_unit = held })
  notify(P, c, 'case.parked', 'tier:' .. TIERS[tonumber(c.tier)],
         'review ' .. fmt_case_time(P, review_c) .. ': ' .. reason, jobs)
  audit(P, who, a[7], 'park', id, 'review ' .. fmt_case_time(P, review_c) .. ': ' .. reason)
  if (c.matter or '') ~= '' then matter_task_dropped(P, c, who, reason) end
  return ok(case_reply(c, { jobs = jobs, review_at = review_at }))
end

-- unpark(P, case_id, who, reason, scale[, by]): bring a parked case back now.
local function unpark(keys, a)
  local P, id, who, reason = a[1], a[2], a[3] or '', a[4] or ''
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  c._by = a[6]
  if who == '' then return fail('BAD_VALUE', 'who brings the case back is required') end
  if c.state ~= 'PARKED' then
    if (c.state == 'REOPENED' or c.state == 'DISPATCHED') and (c.review_at or '') == '0' then
      return ok(case_reply(c, { duplicate = true }))
    end
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ', not PARKED')
  end
  local jobs = {}
  unpark_case(P, c, c._now, who, reason ~= '' and reason or 'brought back by hand', tonumber(a[5]) or 1, jobs)
  audit(P, who, a[6], 'unpark', id, reason)
  return ok(case_reply(c, { jobs = jobs, redispatch = true }))
end

redis.register_function('gc_extend_request', extend_request)
redis.register_function('gc_extend_decide', extend_decide)
redis.register_function('gc_park', park)
redis.register_function('gc_unpark', unpark)
