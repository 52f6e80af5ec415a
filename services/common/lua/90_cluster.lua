-- Several instances of a daemon: the dispatch lease and its fence, and the
-- instance records `gridcall status` reads (docs/cluster.md).
--
-- Keys of this file:
--   dispatch:lease      "<instance> <epoch>", with a TTL: the leader
--   dispatch:epoch      the fencing token: every new leader's is higher
--   instances           zset "<daemon>/<instance>" -> Redis ms last beat
--   instance:{d}/{i}    JSON the instance last reported, with a TTL

-- lead(P, instance, lease_ms, epoch): take the lease when nobody holds it,
-- or renew it when this instance holds it at this epoch. A new leader's
-- epoch is above every earlier one and at least Redis's clock in ms, so
-- an epoch lost with Redis data (a failover that dropped the last writes,
-- a flush) is not handed out again. A leader whose lease ran out with
-- nobody taking it since (its epoch is still the newest, or the epoch was
-- lost with the data) keeps its epoch.
-- Returns {leader, epoch, holder, ttl}: leader false names who holds it.
local function lead(keys, a)
  local P, me, ms, mine = a[1], a[2], tonumber(a[3]), a[4] or ''
  if not ms or ms < 100 or me == '' or me:find(' ', 1, true) then
    return fail('BAD_VALUE', 'lease needs an instance name without spaces and lease_ms >= 100')
  end
  local lk, ek = P .. 'dispatch:lease', P .. 'dispatch:epoch'
  local held = redis.call('GET', lk)
  local current = redis.call('GET', ek)
  if held then
    local who, e = held:match('^(.*) (%d+)$')
    if who == me and e == mine then
      redis.call('PEXPIRE', lk, I(ms))
      return ok({ leader = true, epoch = e, holder = me, ttl = ms })
    end
    return ok({ leader = false, epoch = e or '0', holder = who or held,
                ttl = redis.call('PTTL', lk) })
  end
  local e = mine
  if mine == '' or (current and current ~= mine) then
    e = I(math.max((tonumber(current) or 0) + 1, now_ms()))
  end
  redis.call('SET', ek, e)
  redis.call('SET', lk, me .. ' ' .. e, 'PX', I(ms))
  return ok({ leader = true, epoch = e, holder = me, ttl = ms, new = e ~= mine })
end

-- resign(P, instance, epoch): a leader stopping cleanly lets the lease go,
-- so a standby need not wait for it to run out.
local function resign(keys, a)
  local P = a[1]
  if redis.call('GET', P .. 'dispatch:lease') == a[2] .. ' ' .. a[3] then
    redis.call('DEL', P .. 'dispatch:lease')
    return ok({ resigned = true })
  end
  return ok({ resigned = false })
end

-- fenced(P, epoch, fn, arg...): call dispatch's transition fn only while
-- epoch is the newest; a leader that was paused, cut off or slow and lost
-- its lease holds an older one, and its late writes are refused here, in
-- the same atomic step as the write. One GET per call.
local fence_fns
local function fenced(keys, a)
  local P = a[1]
  local current = redis.call('GET', P .. 'dispatch:epoch')
  if not current and not redis.call('GET', P .. 'dispatch:lease') then
    -- the epoch went with Redis's data and nobody leads since: ours stands
    -- (gc_lead lets the first caller keep its epoch the same way)
    redis.call('SET', P .. 'dispatch:epoch', a[2])
    current = a[2]
  end
  if current ~= a[2] then
    return fail('FENCED', 'epoch ' .. tostring(a[2]) .. ' is over; ' .. tostring(current) .. ' leads',
                { epoch = current })
  end
  local fn = fence_fns[a[3]]
  if not fn then return fail('BAD_VALUE', 'not a fenced function: ' .. tostring(a[3])) end
  local b = { P }
  for i = 4, #a do b[i - 2] = a[i] end
  return fn(keys, b)
end
fence_fns = { gc_offer = offer, gc_unit_reply = unit_reply, gc_withdrawals = withdrawals,
              gc_unit_hello = unit_hello, gc_units_seen = units_seen,
              gc_units_reset = units_reset, gc_ready = ready, gc_unit_gone = unit_gone,
              gc_case_brief = case_brief, gc_orders_autoplace = orders_autoplace,
              gc_claim = claim, gc_extend_request = extend_request }

-- instance_beat(P, daemon, instance, ttl_ms, json): an instance says it is
-- alive and what it is doing (role, last sweep, counters), for
-- `gridcall status`. The record lapses ttl_ms after its last beat.
local function instance_beat(keys, a)
  local P, name, ms = a[1], a[2] .. '/' .. a[3], tonumber(a[4])
  if not ms or ms < 100 or #a[5] > 4096 then
    return fail('BAD_VALUE', 'instance beat needs ttl_ms >= 100 and a record under 4 KiB')
  end
  local now = now_ms()
  redis.call('SET', P .. 'instance:' .. name, a[5], 'PX', I(ms))
  redis.call('ZADD', P .. 'instances', I(now), name)
  -- instances silent for a day are forgotten
  redis.call('ZREMRANGEBYSCORE', P .. 'instances', '-inf', I(now - 86400000))
  return ok({ now = now })
end

-- instances(P): every instance that beat in the last day, with its record
-- (nil once its TTL ran out), when it last beat, and the lease.
local function instances(keys, a)
  local P = a[1]
  local now = now_ms()
  local out = {}
  local list = redis.call('ZRANGE', P .. 'instances', 0, 999, 'WITHSCORES')
  for i = 1, #list, 2 do
    local rec = redis.call('GET', P .. 'instance:' .. list[i])
    out[#out + 1] = { name = list[i], seen_ms = now - tonumber(list[i + 1]),
                      record = rec or '' }
  end
  -- each stage's lag: how long its oldest due work has waited
  local lag = {}
  for stage, key in pairs({ dispatch = 'pending:dispatch', notify = 'pending:notify',
                            escalate = 'timers' }) do
    local first = redis.call('ZRANGEBYSCORE', P .. key, '-inf', I(now), 'WITHSCORES', 'LIMIT', 0, 1)
    lag[stage] = first[2] and now - tonumber(first[2]) or 0
  end
  return ok({ now = now, instances = out, lag = lag,
              lease = redis.call('GET', P .. 'dispatch:lease') or '',
              lease_ttl = redis.call('PTTL', P .. 'dispatch:lease'),
              epoch = redis.call('GET', P .. 'dispatch:epoch') or '0' })
end

redis.register_function('gc_lead', lead)
redis.register_function('gc_resign', resign)
redis.register_function('gc_fenced', fenced)
redis.register_function('gc_instance_beat', instance_beat)
redis.register_function{ function_name = 'gc_instances', callback = instances, flags = { 'no-writes' } }
