-- A community may decline a service-card order instead of placing it (no
-- unit offers the service, the resident withdrew, it belongs elsewhere):
-- ORDERED -> REJECTED, with the reason on the timeline, counted in
-- stats:total orders_declined, and the reporter told why (case.declined).

-- order_decline(P, case_id, who, reason[, by]): the community operator
-- declines an order waiting to be placed. Declining it again is answered
-- as a repeat.
local function order_decline(keys, a)
  local P, id, who, reason = a[1], a[2], a[3] or '', a[4] or ''
  if reason == '' then return fail('BAD_VALUE', 'declining an order needs a reason') end
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  c._by = a[5]
  if c.state ~= 'ORDERED' then
    if (c.declined or '') ~= '' then return ok(case_reply(c, { duplicate = true })) end
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ', not an order waiting to be placed')
  end
  c.declined = c._now; c.declined_by = who; c.decline_reason = reason
  move_state(P, c, 'REJECTED')
  save(P, c, { 'declined', 'declined_by', 'decline_reason' })
  -- the order never reached a unit: no deadline runs for it any more
  redis.call('ZREM', P .. 'timers', id .. '|deadline')
  total(P, 'orders_declined')
  log_event(P, c, 'declined', who, reason)
  local jobs = {}
  notify(P, c, 'case.declined', 'reporter:' .. c.id, reason, jobs)
  audit(P, who, a[5], 'order.decline', id, reason)
  if (c.matter or '') ~= '' then matter_task_dropped(P, c, who, reason) end
  return ok(case_reply(c, { jobs = jobs }))
end

redis.register_function('gc_order_decline', order_decline)
