-- Timers: deadlines fall due and cases climb tiers.

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
        start_clock(P, c, at, scale)
        move_state(P, c, 'ESCALATED')
        save(P, c, { 'tier', 'unit', 'offer_id', 'offer_unit', 'offer_by', 'waiting', 'resolve_by' })
        redis.call('DEL', P .. 'case:' .. id .. ':tried')
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

redis.register_function('gc_fire', fire)
