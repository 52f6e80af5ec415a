-- Service-card orders (居民点单、社区下单、共建单位接单): a resident orders a
-- service, the community operator places the order, a unit takes it.
-- An order is a case of a "service" category filed through the service
-- card; it waits in ORDERED until placed (gridcall order place ID), unless
-- its category or community auto-places: the directory's category field
-- auto_place, or dispatch's order_autoplace option (cfg:autoplace, a set
-- of category codes and "community:<id>" entries).

-- True when the order places itself.
local function auto_places(P, c)
  local flag = redis.call('HGET', P .. 'dir:cat:' .. c.category, 'auto_place')
  if flag == '1' or flag == 'true' then return true end
  local key = P .. 'cfg:autoplace'
  return redis.call('SISMEMBER', key, c.category) == 1
      or redis.call('SISMEMBER', key, 'community:' .. (c.community or '')) == 1
end

-- A newly registered case goes to dispatch at once, except a service-card
-- order that waits for the community to place it. register calls this
-- with the category's kind; it returns the case's first state and touches
-- the order fields for register's one save (register queues it for
-- dispatch).
local function route_new(P, c, kind)
  if kind == 'service' and c.channel == 'SERVICE_CARD' then
    total(P, 'orders')
    if not auto_places(P, c) then
      c.ordered = c._now
      touch(c, 'ordered')
      return 'ORDERED'
    end
    c.placed = c._now; c.placed_by = 'auto'
    touch(c, 'placed', 'placed_by')
  end
  return 'REGISTERED'
end

-- order_place(P, case_id, who[, by]): the community operator places an
-- order; it goes to dispatch. Placing it again is answered as a repeat.
local function order_place(keys, a)
  local P, id, who = a[1], a[2], a[3] or ''
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  c._by = a[4]
  if c.state ~= 'ORDERED' then
    if (c.placed or '') ~= '' then return ok(case_reply(c, { duplicate = true })) end
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ', not an order waiting to be placed')
  end
  c.placed = c._now; c.placed_by = who
  move_state(P, c, 'REGISTERED')
  -- the case's clock runs from its placing: an order waiting to be placed
  -- is the community's, not yet a unit's, and its timer has lapsed
  start_clock(P, c, c._now, tonumber(c.scale) or 1)
  save(P, c, { 'placed', 'placed_by', 'resolve_by' })
  redis.call('ZADD', P .. 'pending:dispatch', I(c._now), id)
  total(P, 'orders_placed')
  log_event(P, c, 'placed', who, 'the community placed the order', nil,
            { 'case.placed', 'grid:' .. c.grid })
  audit(P, who, a[4], 'order.place', id, '')
  return ok(case_reply(c, { redispatch = true }))
end

-- orders(P, max): orders waiting to be placed, oldest first; and the
-- services delivered per category.
local function orders(keys, a)
  local P = a[1]
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', P .. 'idx:state:ORDERED', 0, (tonumber(a[2]) or 100) - 1)) do
    local h = redis.call('HMGET', P .. 'case:' .. id, 'category', 'grid', 'community', 'ordered', 'text',
                         'reporter')
    table.insert(out, { case_id = id, category = h[1], grid = h[2], community = h[3],
                        ordered = tonumber(h[4]) or 0, text = h[5], reporter = h[6] })
  end
  return ok({ waiting = out, delivered = hgetall(P .. 'stats:services') or {},
              waiting_count = redis.call('ZCARD', P .. 'idx:state:ORDERED') })
end

-- orders_autoplace(P, entry...): replace the auto-placing list (dispatch's
-- order_autoplace option, written at its start).
local function orders_autoplace(keys, a)
  redis.call('DEL', a[1] .. 'cfg:autoplace')
  for i = 2, #a do redis.call('SADD', a[1] .. 'cfg:autoplace', a[i]) end
  return ok({ count = #a - 1 })
end

redis.register_function('gc_order_place', order_place)
redis.register_function('gc_orders_autoplace', orders_autoplace)
redis.register_function{ function_name = 'gc_orders', callback = orders, flags = { 'no-writes' } }
