-- Cases: registration, verification, evaluation, reads, the pending-set claim.

-- Open cases of category in grid created since (wall ms), oldest first:
-- the possible duplicates of a new report (idx:near, kept by save).
local DUPLICATES_MAX = 10
local function near_open(P, grid, category, since)
  local ids = redis.call('ZRANGEBYSCORE', P .. 'idx:near:' .. grid .. ':' .. category, I(since),
                         '+inf', 'LIMIT', 0, DUPLICATES_MAX)
  if #ids == 0 then return nil end
  return ids
end

-- register(P, idem, grid, category, text, channel, reporter, building,
--          location, scale, idem_ttl_s, principal, content_hash[, lat,
--          lon, address_id, address_string]): the principal that filed it
-- is the timeline's who and the case's via (reporter stays beside); the
-- idempotency key is the principal's own and remembers the report's
-- content: the same key with other content is a CONFLICT. A report
-- without a grid gives a place (17_place.lua); the reply names the grid
-- and building it resolved to, and the open cases of its category in that
-- grid within the directory's duplicate window.
local function register(keys, a)
  local P, idem, grid, category = a[1], a[2], a[3], a[4]
  local scale = tonumber(a[10]) or 1
  local ikey = P .. 'idem:' .. (a[12] or '') .. ':' .. idem
  local seen = redis.call('GET', ikey)
  if seen then
    local hash
    seen, hash = string.match(seen, '^(%S+) ?(%S*)$')
    -- the content's hash is kept to 16 hex digits (64 bits tell a
    -- different report from a retry; an older key kept all 40)
    if string.sub(hash, 1, 16) ~= string.sub(a[13] or '', 1, 16) then
      return fail('CONFLICT', 'idempotency key ' .. idem .. ' was used for other content (case ' .. seen .. ')')
    end
    local h = redis.call('HMGET', P .. 'case:' .. seen, 'state', 'tier', 'version', 'resolve_by',
                         'grid', 'building')
    if h[1] then
      return ok({ duplicate = true, ledger = seen, case_id = seen, state = h[1],
                  tier = tonumber(h[2]), version = tonumber(h[3]),
                  resolve_by = tonumber(h[4]) or 0, grid = h[5], building = h[6] or '' })
    end
  end
  local lat, lon = tonumber(a[14] or ''), tonumber(a[15] or '')
  if grid == '' or lat or (a[16] or '') ~= '' or (a[17] or '') ~= '' then
    local b, msg
    grid, b, msg = place_resolve(P, grid, a[8], lat, lon, a[16] or '', a[17] or '')
    if not grid then return fail(b, msg) end
    a[8] = b
  end
  local g = dir_grid(P, grid)
  if not g then return fail('UNKNOWN_GRID', 'grid "' .. grid .. '" is not in the directory') end
  local community = g.community
  if a[8] ~= '' and g.buildings and not string.find(g.buildings, ' ' .. a[8] .. ' ', 1, true) then
    return fail('BAD_VALUE', 'building "' .. a[8] .. '" is not in grid ' .. grid)
  end
  local cat = dir_cat(P, category)
  if not cat then
    return fail('UNKNOWN_CATEGORY', 'category "' .. category .. '" is not in the directory')
  end
  local now = now_ms()
  local window = tonumber(dir_geo(P).window_min) or 0
  local near = window > 0 and near_open(P, grid, category, now - window * 60000 / scale) or nil
  local street = dir_street(P)
  local day = ymd(math.floor((now + street.offset * 60000) / 86400000))
  local seq = redis.call('INCR', P .. 'seq:day:' .. day)
  local id = string.format('%s-%s-%06d', street.code, day, seq)
  local tier = tonumber(cat.start_tier)
  local c = { id = id, ledger = id, grid = grid, community = community,
              category = category, text = a[5], channel = a[6], reporter = a[7],
              building = a[8], location = a[9], tier = tier, unit = '',
              created = now, version = 0, _now = now, scale = scale,
              via = a[12] or '', _known = true, _fresh = true,
              -- the map point the reporter gave, kept as given (resolved above)
              lat = (lat and lon) and string.format('%.14g', lat) or '',
              lon = (lat and lon) and string.format('%.14g', lon) or '' }
  start_clock(P, c, now, scale)
  -- the deadline the case started with: "on time" is measured against it
  c.due0 = c.resolve_by
  local first = route_new(P, c, cat.kind)
  -- registered and offered in one step when a ready unit has room: a
  -- single-unit case (joint cases and everything else go to dispatch)
  local best, ranked, second, fits
  if first == 'REGISTERED' then
    local joint = tonumber(cat['joint_' .. tier]) or tonumber(cat.joint_units) or 1
    if joint <= 1 then
      fits = redis.call('SMEMBERS', P .. 'ready:' .. tier .. ':' .. grid .. ':' .. category)
      if #fits > 0 then best, ranked, second = pick(P, fits, {}, now) end
    end
  end
  local offer, waiting
  -- the round registration opens (gc_offer opens the same one), kept
  -- when the case waits in it: an offered case leaves REGISTERED for good,
  -- and gc_offer looks at the round only in REGISTERED, ESCALATED and
  -- REOPENED, each with a round of its own
  local round = tier .. ':REGISTERED:' .. c.resolve_by
  if best then
    local oid, by = new_offer(P, c, best.unit, answer_ms_of(P))
    c.offer_id = oid; c.offer_unit = best.unit; c.offer_by = by
    touch(c, 'offer_id', 'offer_unit', 'offer_by')
    -- the offer expires by the sweep if it is not answered
    redis.call('ZADD', P .. 'pending:dispatch', I(by), id)
    move_state(P, c, 'DISPATCHED')
    offer = offer_out(c, best.unit, c.offer_id, 'lead', by)
  else
    if fits and cat.kind ~= 'service' then
      -- no ready unit can take it: what dispatch's round would find (the
      -- ready sets are its candidates), recorded here as gc_offer records
      -- it, so dispatch is not woken for it (the reply's waiting). A
      -- unit's hello pulls it forward; the retry sweep looks again. A
      -- service category may book a rota slot instead: dispatch's to decide.
      waiting = #fits == 0 and 'no connected unit on duty fits'
                or 'every fitting unit is at capacity or declined'
      c.round = round
      c.waiting = waiting
      touch(c, 'round', 'waiting')
      redis.call('ZADD', P .. 'pending:dispatch', I(now + retry_ms_of(P)), id)
      redis.call('ZADD', P .. 'dispatch:waiting', I(now), id)
    elseif first == 'REGISTERED' then
      redis.call('ZADD', P .. 'pending:dispatch', I(now), id)
    end
    move_state(P, c, first)
  end
  -- the id and ledger number are the key's (a renumbered archive would
  -- store ledger); empty fields and the common scale 1 are not stored: a
  -- missing field reads as '' (scale as 1)
  local fields = { 'grid', 'community', 'category', 'text', 'channel',
                   'reporter', 'tier', 'created', 'due0' }
  if scale ~= 1 then table.insert(fields, 'scale') end
  -- empty optional fields are not stored: a missing field reads as ''
  for _, f in ipairs({ 'building', 'location', 'via', 'lat', 'lon' }) do
    if c[f] ~= '' then table.insert(fields, f) end
  end
  -- the named person answering for the case at its tier (五级包联)
  local pid, pname = tier_person(P, grid, tier)
  if pid then c.liaison = pname .. ' (' .. pid .. ')'; table.insert(fields, 'liaison') end
  save(P, c, fields)
  person_count(P, c.via, 'discovered')
  redis.call('SET', ikey, id .. ' ' .. string.sub(a[13] or '', 1, 16), 'EX', (a[11] and a[11] ~= '') and a[11] or '86400')
  local nows = I(now)
  -- (a community's cases are its grids': no index of their own)
  for _, k in ipairs({ 'idx:created', 'idx:grid:' .. grid, 'idx:category:' .. category }) do
    redis.call('ZADD', P .. k, nows, id)
  end
  -- the timeline tells both steps: registered, then offered (one write)
  local state = c.state
  log_begin(c)
  if offer then c.state = 'REGISTERED' end
  if c.via ~= '' then c._by = a[7] end
  log_event(P, c, 'registered', c.via ~= '' and c.via or a[7],
            'tier ' .. TIERS[tier] .. ', channel ' .. a[6], nil, { 'case.registered', 'grid:' .. grid })
  c.state = state
  c._by = nil
  if offer then
    log_event(P, c, 'offered', 'dispatch', '', { offer = c.offer_id, offer_unit = best.unit,
              answer_by = c.offer_by, role = 'lead', why = offer_why(best, ranked, second) })
  elseif waiting then
    log_event(P, c, 'waiting', 'dispatch', waiting)
  end
  log_flush(P, c)
  return ok(case_reply(c, { duplicate = false, ledger = id, offers = offer and { offer } or nil,
                            waiting = waiting, building = c.building,
                            possible_duplicates = near }))
end

-- verify(P, case_id, pass, note, who, scale[, by]): who the principal,
-- by the name its client gave
local function verify(keys, a)
  local P, id, pass, note, who = a[1], a[2], a[3] == '1', a[4], a[5]
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  c._by = a[7]
  if pass and (c.state == 'VERIFIED' or c.state == 'CLOSED') then
    return ok(case_reply(c, { duplicate = true }))
  end
  if c.state ~= 'RESOLVED' then
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ', not RESOLVED')
  end
  if pass then
    -- verified and closed in one step: the timeline shows both, the
    -- state index moves once
    c.state = 'VERIFIED'
    log_begin(c)
    log_event(P, c, 'verified', who, note)
    c.state = 'RESOLVED'
    move_state(P, c, 'CLOSED')
    c.closed = c._now
    save(P, c, { 'closed' })
    redis.call('ZREM', P .. 'timers', id .. '|deadline')
    log_event(P, c, 'closed', who, '', nil, { 'case.closed', 'reporter:' .. c.id })
    log_flush(P, c)
    merged_close(P, c, who)
    community_case_closed(P, c, who)
    -- a task of a matter (09_matter_link.lua): the matter counts it done
    if (c.matter or '') ~= '' then matter_task_closed(P, c, who) end
  else
    move_state(P, c, 'REOPENED')
    -- the unit whose work failed comes last in the next round (offer)
    if (c.unit or '') ~= '' then
      c.prev_unit = c.unit
      touch(c, 'prev_unit')
      withdraw(P, c, c.unit, c.offer_id, 'REOPENED', note)
    end
    c.unit = ''; c.offer_id = ''; c.offer_unit = ''; c.offer_by = 0
    start_clock(P, c, c._now, tonumber(a[6]) or 1)
    save(P, c, { 'unit', 'offer_id', 'offer_unit', 'offer_by' })
    redis.call('ZADD', P .. 'pending:dispatch', I(c._now), id)
    total(P, 'reopened')
    log_event(P, c, 'reopened', who, note, { prev_unit = c.prev_unit },
              { 'case.reopened', 'grid:' .. c.grid })
  end
  audit(P, who, a[7], pass and 'verify.pass' or 'verify.fail', id, note)
  return ok(case_reply(c, { redispatch = not pass }))
end

-- evaluate(P, case_id, score, comment, who[, by])
local function evaluate(keys, a)
  local P, id, score = a[1], a[2], tonumber(a[3])
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  c._by = a[6]
  -- a case merged into another is evaluated by its own reporter once the
  -- case it followed is closed
  local kept = c.state == 'MERGED'
               and redis.call('HGET', P .. 'case:' .. (c.merged_into or ''), 'state')
  if c.state ~= 'CLOSED' and kept ~= 'CLOSED' then
    return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state .. ', not CLOSED'
                .. (c.state == 'MERGED' and (' (it follows ' .. (c.merged_into or '?')
                                             .. ', not yet closed)') or ''))
  end
  if c.satisfaction and c.satisfaction ~= '' then
    if tonumber(c.satisfaction) == score then return ok(case_reply(c, { duplicate = true })) end
    return fail('WRONG_STATE', 'case ' .. id .. ' was already evaluated')
  end
  c.satisfaction = score
  save(P, c, { 'satisfaction' })
  total(P, 'evaluated'); total(P, 'satisfaction_sum', score)
  community_case_rated(P, c, score)
  log_event(P, c, 'evaluated', a[5], score .. '/5' .. (a[4] ~= '' and (': ' .. a[4]) or ''))
  return ok(case_reply(c, {}))
end

-- case_get(P, case_id): the case and its timeline.
local function case_get(keys, a)
  local c = case_hash(a[1], a[2])
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. a[2]) end
  local timeline, prev = {}, nil
  for i, text in ipairs(tl_get(a[1], a[2], 1, -1)) do
    local ev = event_decode(text, prev, c.created, c.channel)
    if ev then prev = ev end
    timeline[i] = ev and cjson.encode(ev) or text
  end
  c.timeline = timeline
  local merged = redis.call('SMEMBERS', a[1] .. 'case:' .. a[2] .. ':merged')
  if #merged > 0 then table.sort(merged); c.merged_cases = merged end
  return ok({ case = c })
end

local function stats(keys, a)
  local P = a[1]
  local t = { now = now_ms() }
  local open, closed = open_counts(P), closed_count(P)
  t.open_tier, t.open_grid, t.open_category = open.tier, open.grid, open.category
  t.total = totals(P, closed)
  t.state = state_counts(P, open, closed)
  t.reported_category = category_counts(P)
  t.pending = { dispatch = redis.call('ZCARD', P .. 'pending:dispatch'),
                notify = redis.call('ZCARD', P .. 'pending:notify') }
  t.timers = redis.call('ZCARD', P .. 'timers')
  t.dead = { notify = redis.call('ZCARD', P .. 'dead:notify') }
  return cjson.encode(t)
end

-- claim(P, stage, lease_ms, max): lease due items of pending:<stage> by
-- bumping their score, so another instance does not take them meanwhile.
local function claim(keys, a)
  local P, key = a[1], a[1] .. 'pending:' .. a[2]
  local now = now_ms()
  -- the event stream's cap, kept here (every sweep of every stage) rather
  -- than on each XADD; a trim that removes nothing writes nothing
  redis.call('XTRIM', P .. 'events', 'MAXLEN', '~', EVENTS_MAX)
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(a[4]))
  for _, m in ipairs(due) do redis.call('ZADD', key, 'XX', now + tonumber(a[3]), m) end
  return ok({ items = due, now = now })
end

redis.register_function('gc_register', register)
redis.register_function('gc_claim', claim)
redis.register_function('gc_verify', verify)
redis.register_function('gc_evaluate', evaluate)
redis.register_function{ function_name = 'gc_case_get', callback = case_get, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_stats', callback = stats, flags = { 'no-writes' } }
