-- Dispatch: offers, unit replies, what units hold, joint parties, the
-- live set of connected units. docs/unit-protocol.md describes the wire;
-- this file is the Redis side of it.
--
-- Keys of this file (besides the case hash):
--   unit:{u}            capacity, open, claim (capacity claimed at hello),
--                       offers_n, accepts_n, declines_n, expired_n,
--                       resolved_n, ontime_n (the track record)
--   unit:{u}:load       zset case id -> answer-by of an offer waiting for
--                       u's answer, or HELD for a case u holds (lead or
--                       assisting): its whole load in one place, so taking
--                       an offered case is one write and ranking one read
--   case:{id}:parties   hash unit -> JSON {offer, role, state, by}: the
--                       assisting units of a joint case
--   case:{id}:tried     units that declined or let an offer expire
--   units:connected     hash unit -> Redis ms last seen (dispatch writes)
--   dispatch:waiting    zset of cases no unit could take (pulled forward
--                       when a unit says hello)
--   stats:services      hash category -> service orders delivered

local LEAD_STATES = { REGISTERED = true, DISPATCHED = true, REOPENED = true, ESCALATED = true }

-- A held case's score in unit:{u}:load: after every answer-by.
local HELD = '9000000000000000'
local function load_key(P, u) return P .. 'unit:' .. u .. ':load' end
-- u now holds case id (its offer, if any, is answered by that).
local function unit_hold(P, u, id) redis.call('ZADD', load_key(P, u), HELD, id) end
-- u no longer holds, nor is offered, case id.
local function unit_drop(P, u, id) redis.call('ZREM', load_key(P, u), id) end
-- The cases u holds.
local function unit_held(P, u) return redis.call('ZRANGEBYSCORE', load_key(P, u), HELD, HELD) end
local function unit_held_count(P, u) return redis.call('ZCOUNT', load_key(P, u), HELD, HELD) end

local function party_all(P, id)
  local out = {}
  local flat = redis.call('HGETALL', P .. 'case:' .. id .. ':parties')
  for i = 1, #flat, 2 do
    local p = cjson.decode(flat[i + 1]); p.unit = flat[i]; out[flat[i]] = p
  end
  return out
end

local function party_set(P, id, p)
  redis.call('HSET', P .. 'case:' .. id .. ':parties', p.unit, cjson.encode(
             { offer = p.offer, role = p.role, state = p.state, by = p.by, round = p.round }))
end

-- Units' standing inputs, kept in the library's memory per key prefix as
-- the directory's hot parts are (dir_of): capacity and the claim made at
-- hello, which gc_dir_load and hello forget, and the track record, which
-- only record moves and keeps from HINCRBY's answer. Ranking a candidate
-- is then one ZCOUNT. An entry is read again after UNIT_CACHE_MS: a
-- Redis that was a replica for a while (its keys moved by replication,
-- not by this library) and leads again trusts nothing older.
local unit_cache = {}
local UNIT_CACHE_MS = 1000
local UNIT_FIELDS = { 'capacity', 'claim', 'accepts_n', 'declines_n', 'expired_n', 'resolved_n',
                      'ontime_n' }
local function unit_rec(P, u, now)
  local d = unit_cache[P]
  if not d then d = {}; unit_cache[P] = d end
  local r = d[u]
  if not r or now - r.at > UNIT_CACHE_MS or now < r.at then
    local h = redis.call('HMGET', P .. 'unit:' .. u, unpack(UNIT_FIELDS))
    r = { at = now }
    for i, f in ipairs(UNIT_FIELDS) do r[f] = tonumber(h[i]) or 0 end
    d[u] = r
  end
  return r
end
-- Forget unit u's (every unit's when u is nil) cached standing inputs.
local function unit_forget(P, u)
  local d = unit_cache[P]
  if d then
    if u then d[u] = nil else unit_cache[P] = nil end
  end
end

-- Count a unit's track record: what is offers_n, accepts_n, ...
local function record(P, u, what, d)
  local n = redis.call('HINCRBY', P .. 'unit:' .. u, what, d and I(d) or '1')
  local r = unit_cache[P] and unit_cache[P][u]
  if r then r[what] = n end
end

-- A unit's standing for ranking: spare capacity (capacity, or the smaller
-- capacity it claimed at hello, less the cases it holds and its offers
-- waiting), then accept rate, then on-time rate (both smoothed so a new
-- unit starts at 1/2). Offers answered = accepted + declined + expired.
local function standing(P, u, now)
  local r = unit_rec(P, u, now)
  local cap, claim = r.capacity, r.claim
  if claim > 0 and claim < cap then cap = claim end
  -- held cases and offers still waiting for an answer, in one count
  local load = redis.call('ZCOUNT', load_key(P, u), I(now), '+inf')
  local accepts = r.accepts_n
  local answered = accepts + r.declines_n + r.expired_n
  return { unit = u, capacity = cap, load = load,
           spare = cap - load,
           accept = (accepts + 1) / (answered + 2),
           ontime = (r.ontime_n + 1) / (r.resolved_n + 2) }
end

-- True when standing a ranks before b (b may be nil). Equal standings keep
-- the caller's order, which dispatch rotates (round robin).
local function better(a, b)
  if not b then return true end
  if a.spare ~= b.spare then return a.spare > b.spare end
  if math.abs(a.accept - b.accept) > 1e-9 then return a.accept > b.accept end
  if math.abs(a.ontime - b.ontime) > 1e-9 then return a.ontime > b.ontime end
  return false
end

-- Pick the best candidate with spare capacity not in skip; returns its
-- standing, how many were ranked (fit, not skipped, with room) and the
-- runner-up's standing (or nil).
local function pick(P, cands, skip, now)
  local best, second, ranked = nil, nil, 0
  for _, u in ipairs(cands) do
    if not skip[u] then
      local s = standing(P, u, now)
      if s.spare > 0 then
        ranked = ranked + 1
        if better(s, best) then second = best; best = s
        elseif better(s, second) then second = s end
      end
    end
  end
  return best, ranked, second
end

-- Ask for n assisting units on case c (joint handling). Escalation and any
-- later step summon units this way: the next dispatch round offers the
-- "assist" role to the best fitting units that are not yet parties.
-- The caller saves the case.
local function summon_parties(P, c, n)
  if (tonumber(c.parties_needed) or 0) < n then c.parties_needed = n end
  redis.call('ZADD', P .. 'pending:dispatch', I(c._now), c.id)
end

-- A progress note sent again (a unit resends its outbox after a
-- reconnect, every unanswered reply in order) is answered as a duplicate,
-- not logged twice, in any state the case has reached since: the case
-- keeps a digest of offer, unit and text for each of its last
-- PROGRESS_KEPT notes, whoever sent them.
local PROGRESS_KEPT = 32
local DECLINES_KEPT = 16

-- Remember that a unit declined an offer ("unit:offer", the case's last
-- DECLINES_KEPT): the same decline again is a duplicate, a decline of an
-- offer that expired is stale.
local function decline_mark(P, c, mark) marks_add(P, c, 'unit_declines', mark, DECLINES_KEPT) end

local function progress_digest(unit, offer_id, note)
  return string.sub(redis.sha1hex(offer_id .. '\0' .. unit .. '\0' .. (note or '')), 1, 12)
end

local function progress_seen(P, c, digest) return marks_has(P, c, 'progress_seen', digest) end
local function progress_keep(P, c, digest) marks_add(P, c, 'progress_seen', digest, PROGRESS_KEPT) end

-- Tell the assisting units of case c that still have its work (offered,
-- or accepted and not yet reported) that a climb, parking or merging
-- takes it back: "withdrawn", as the lead is told. Their load is given
-- back by release_parties.
local function withdraw_parties(P, c, reason, note)
  for u, p in pairs(party_all(P, c.id)) do
    if p.state == 'OFFERED' or p.state == 'ACCEPTED' then withdraw(P, c, u, p.offer, reason, note) end
  end
end

-- Forget the parties of an earlier round (the case escalated or reopened):
-- assisting units that accepted give the case back. The caller saves.
local function release_parties(P, c, note)
  local any = false
  for u, p in pairs(party_all(P, c.id)) do
    any = true
    unit_drop(P, u, c.id)
  end
  redis.call('DEL', P .. 'case:' .. c.id .. ':parties')
  c.lead_resolved = ''
  if note and any then log_event(P, c, 'parties_released', 'dispatch', note) end
end

-- Every party has reported and the lead has resolved: the case is RESOLVED.
local function resolve_case(P, c, who, note, jobs)
  local cat = dir_cat(P, c.category) or {}
  local kind = cat.kind
  c.resolved = c._now
  move_state(P, c, 'RESOLVED')
  -- the resolve-by clock stops; the grid worker's verify-by clock starts
  start_verify_clock(P, c, c._now, tonumber(cat.verify_minutes) or 1440)
  save(P, c, { 'resolved', 'lead_resolved', 'verify_by' })
  -- a single-unit case left dispatch's pending set when it was accepted
  -- (one put back since: its sweep finds it resolved and drops it)
  if (tonumber(c.parties_needed) or 0) > 0 then redis.call('ZREM', P .. 'pending:dispatch', c.id) end
  if ever_late(c) then redis.call('ZREM', P .. 'idx:overdue', c.id) end
  total(P, 'resolved')
  if c._now <= (tonumber(c.resolve_by) or 0) then total(P, 'resolved_on_time') end
  if kind == 'service' then redis.call('HINCRBY', P .. 'stats:services', c.category, '1') end
  log_event(P, c, 'resolved', who, note, nil, { 'case.resolved', 'grid:' .. c.grid })
  if (c.matter or '') ~= '' then matter_task_event(P, c, 'task_resolved', who, note) end
end

-- A new offer of case c to unit u, answer due answer_ms from now: its id
-- and due time; u's waiting offers hold it until answered. The caller
-- records it on the case or in the case's parties.
local function new_offer(P, c, u, answer_ms)
  local oid = tostring(redis.call('INCR', P .. 'seq:offer'))
  local by = c._now + answer_ms
  redis.call('ZADD', load_key(P, u), I(by), c.id)
  return oid, by
end

-- The "why this unit" of an offer, for its timeline entry (why_text
-- tells it): the best's rank among the n that fit and had room, its
-- standing, and the runner-up's.
local function offer_why(best, n, second)
  local function pct(x) return math.floor(x * 100 + 0.5) end
  local w = { n, best.spare, best.capacity, pct(best.accept), pct(best.ontime) }
  if second then
    w[6] = second.unit; w[7] = second.spare; w[8] = pct(second.accept); w[9] = pct(second.ontime)
  end
  return w
end

local function offer_out(c, unit, offer_id, role, by)
  return { offer_id = offer_id, unit = unit, role = role, answer_by = by, case_id = c.id,
           ledger = c.ledger, grid = c.grid, category = c.category, text = c.text,
           tier = tonumber(c.tier), resolve_by = tonumber(c.resolve_by) or 0,
           appointment = tonumber(c.appointment) or 0 }
end

-- offer(P, case_id, answer_ms, retry_ms, joint, book_at, book_note,
--       cand1, cand2, ...): candidates come from dispatch in round-robin
-- order (fit, connected, on duty, claims). Expire overdue offers, offer the
-- lead role when the case has no lead, and the assist role while a joint
-- case lacks parties; rank by spare capacity, track record, then order.
-- When nothing fits now and book_at > 0 (a service order: the earliest
-- next rota slot of a fitting unit), record the appointment and wait.
-- Returns the offers to send (commit, then send).
local function offer(keys, a)
  local P, id = a[1], a[2]
  local answer_ms, retry_ms = tonumber(a[3]), tonumber(a[4])
  local joint, book_at, book_note = tonumber(a[5]) or 1, tonumber(a[6]) or 0, a[7] or ''
  local cands = {}
  for i = 8, #a do cands[#cands + 1] = a[i] end
  local pkey = P .. 'pending:dispatch'
  local c = load_case(P, id)
  if not c then
    redis.call('ZREM', pkey, id)
    return fail('UNKNOWN_CASE', 'no case ' .. id)
  end
  local s = c.state
  if not LEAD_STATES[s] and s ~= 'ACCEPTED' then
    redis.call('ZREM', pkey, id)
    redis.call('ZREM', P .. 'dispatch:waiting', id)
    return fail('STALE', 'case ' .. id .. ' is ' .. s)
  end
  local now = c._now
  local tried = P .. 'case:' .. id .. ':tried'
  local fields = {}
  -- a new round (first dispatch, escalation, reopening) sets the parties
  local round = c.tier .. ':' .. s .. ':' .. (c.resolve_by or '')
  if (s == 'REGISTERED' or s == 'ESCALATED' or s == 'REOPENED') and c.round ~= round then
    if s ~= 'REGISTERED' then release_parties(P, c, 'a new round: ' .. s) end
    c.round = round
    c.parties_needed = math.max(joint - 1, 0)
    table.insert(fields, 'round'); table.insert(fields, 'parties_needed')
    table.insert(fields, 'lead_resolved')
  end
  -- an appointment not yet due: wait for it
  local appt = tonumber(c.appointment) or 0
  if LEAD_STATES[s] and appt > now and s ~= 'DISPATCHED' then
    redis.call('ZADD', pkey, appt, id)
    return fail('BOOKED', 'appointment at ' .. appt, { retry_at = appt })
  end
  -- overdue offers expire: the lead's, then assisting units'
  local offer_by = tonumber(c.offer_by) or 0
  if s == 'DISPATCHED' and offer_by > 0 and offer_by <= now then
    redis.call('SADD', tried, c.offer_unit)
    unit_drop(P, c.offer_unit, id)
    record(P, c.offer_unit, 'expired_n')
    total(P, 'offers_expired')
    log_event(P, c, 'offer_expired', 'dispatch', 'no answer from ' .. c.offer_unit ..
              ' by the deadline', { offer = c.offer_id })
    c.offer_by = 0; c.offer_unit = ''
    table.insert(fields, 'offer_by'); table.insert(fields, 'offer_unit')
  end
  local parties = party_all(P, id)
  local skip, have, next_due = {}, 0, nil
  for u, p in pairs(parties) do
    if p.state == 'OFFERED' and p.by <= now then
      redis.call('HDEL', P .. 'case:' .. id .. ':parties', u)
      redis.call('SADD', tried, u)
      unit_drop(P, u, id)
      record(P, u, 'expired_n')
      total(P, 'offers_expired')
      log_event(P, c, 'offer_expired', 'dispatch', 'no answer from ' .. u ..
                ' (assist) by the deadline', { offer = p.offer })
    else
      skip[u] = true; have = have + 1
      if p.state == 'OFFERED' and (not next_due or p.by < next_due) then next_due = p.by end
    end
  end
  for _, u in ipairs(redis.call('SMEMBERS', tried)) do skip[u] = true end
  if c.unit and c.unit ~= '' then skip[c.unit] = true end
  local lead_live = s == 'DISPATCHED' and (tonumber(c.offer_by) or 0) > now
  if lead_live then
    skip[c.offer_unit] = true
    if not next_due or tonumber(c.offer_by) < next_due then next_due = tonumber(c.offer_by) end
  end
  local offers, unmet, why_not = {}, false, nil
  local team_lead, team_members = team_of(P, c.category, cands)
  local function make_offer(best, pos, second, role)
    local oid, by = new_offer(P, c, best.unit, answer_ms)
    skip[best.unit] = true
    if not next_due or by < next_due then next_due = by end
    table.insert(offers, offer_out(c, best.unit, oid, role, by))
    return oid, by, offer_why(best, pos, second)
  end
  -- the lead
  if LEAD_STATES[s] and not lead_live then
    local best, pos, second
    -- a reopened case goes to another unit than the one whose work failed
    -- verification, unless no other can take it
    if s == 'REOPENED' and (c.prev_unit or '') ~= '' and not skip[c.prev_unit] then
      skip[c.prev_unit] = true
      best, pos, second = pick(P, cands, skip, now)
      skip[c.prev_unit] = nil
    end
    -- a category's standing team (the family-affairs alliance) leads with
    -- its lead unit and assists with its members while they can
    if not best and team_lead then best, pos, second = pick(P, team_lead, skip, now) end
    if not best then best, pos, second = pick(P, cands, skip, now) end
    if not best and #cands > 0 then
      -- every fitting unit declined: forget the refusals and try again
      -- after the retry interval
      local any_untried = false
      for _, u in ipairs(cands) do
        if redis.call('SISMEMBER', tried, u) == 0 then any_untried = true end
      end
      if not any_untried then
        redis.call('DEL', tried)
        why_not = 'every fitting unit declined'
      end
    end
    if best then
      local oid, by, why = make_offer(best, pos, second, 'lead')
      c.offer_id = oid; c.offer_unit = best.unit; c.offer_by = by; c.waiting = ''
      move_state(P, c, 'DISPATCHED')
      for _, f in ipairs({ 'offer_id', 'offer_unit', 'offer_by', 'waiting' }) do
        table.insert(fields, f)
      end
      log_event(P, c, 'offered', 'dispatch', '', { offer = oid, offer_unit = best.unit,
                answer_by = by, role = 'lead', why = why })
    else
      unmet = true
      why_not = why_not or ((#cands == 0) and 'no connected unit on duty fits' or
                            'every fitting unit is at capacity or declined')
    end
  end
  -- assisting units of a joint case
  local needed = tonumber(c.parties_needed) or 0
  while have < needed do
    local best, pos, second
    if team_members then best, pos, second = pick(P, team_members, skip, now) end
    if not best then best, pos, second = pick(P, cands, skip, now) end
    if not best then
      unmet = true
      why_not = why_not or string.format('%d of %d assisting units found', have, needed)
      break
    end
    local oid, by, why = make_offer(best, pos, second, 'assist')
    party_set(P, id, { unit = best.unit, offer = oid, role = 'assist', state = 'OFFERED', by = by,
                       round = c.round })
    have = have + 1
    log_event(P, c, 'offered', 'dispatch', '', { offer = oid, offer_unit = best.unit,
              answer_by = by, role = 'assist', why = why })
  end
  -- a service order that cannot be served now gets the next rota slot
  if unmet and #offers == 0 and LEAD_STATES[s] and not lead_live and book_at > now then
    c.appointment = book_at; c.waiting = 'booked'
    table.insert(fields, 'appointment'); table.insert(fields, 'waiting')
    save(P, c, fields)
    redis.call('ZADD', pkey, book_at, id)
    redis.call('ZREM', P .. 'dispatch:waiting', id)
    total(P, 'appointments')
    log_event(P, c, 'booked', 'dispatch', 'no unit on duty now; appointment at the next rota slot: '
              .. book_note, { appointment = book_at })
    return fail('BOOKED', 'appointment ' .. book_note, { retry_at = book_at, appointment = book_at })
  end
  -- cases no unit could take are pulled forward when a unit says hello
  if unmet and #offers == 0 and LEAD_STATES[s] and not lead_live then
    redis.call('ZADD', P .. 'dispatch:waiting', I(now), id)
  else
    redis.call('ZREM', P .. 'dispatch:waiting', id)
  end
  if unmet and (not next_due or now + retry_ms < next_due) then next_due = now + retry_ms end
  if next_due then redis.call('ZADD', pkey, I(next_due), id) else redis.call('ZREM', pkey, id) end
  if unmet and #offers == 0 then
    if c.waiting ~= why_not then
      c.waiting = why_not
      table.insert(fields, 'waiting')
      save(P, c, fields)
      log_event(P, c, 'waiting', 'dispatch', why_not)
    elseif #fields > 0 then
      save(P, c, fields)
    end
    return fail('NO_UNIT', why_not, { retry_at = next_due })
  end
  if #fields > 0 or #offers > 0 then save(P, c, fields) end
  if #offers == 0 then return fail('OFFER_LIVE', 'offers still open', { retry_at = next_due }) end
  return ok(case_reply(c, { offers = offers }))
end

-- unit_reply(P, kind, unit, offer_id, case_id, note, reason):
-- kind is accept, decline, progress or resolve; the offer id says whether
-- the unit speaks as the lead or as an assisting unit. Idempotent by offer id.
local function unit_reply(keys, a)
  local P, kind, unit, offer_id, id, note, reason = a[1], a[2], a[3], a[4], a[5], a[6], a[7]
  local c = load_case(P, id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  local jobs = {}
  local needed = tonumber(c.parties_needed) or 0
  -- the lead's offer is on the case; only a joint case has parties to look at
  local pjs = needed > 0 and c.offer_id ~= offer_id
              and redis.call('HGET', P .. 'case:' .. id .. ':parties', unit)
  local party = pjs and cjson.decode(pjs)
  if party and party.offer == offer_id then
    party.unit = unit
    -- an assisting unit: its own part and state
    if kind == 'accept' then
      if party.state ~= 'OFFERED' then return ok(case_reply(c, { duplicate = true, role = 'assist' })) end
      if party.by < c._now then return fail('STALE', 'offer ' .. offer_id .. ' expired') end
      party.state = 'ACCEPTED'
      party_set(P, id, party)
      unit_hold(P, unit, id)
      record(P, unit, 'accepts_n')
      log_event(P, c, 'assist_accepted', unit, '', { offer = offer_id, role = 'assist' })
      return ok(case_reply(c, { role = 'assist' }))
    elseif kind == 'decline' then
      if party.state ~= 'OFFERED' then return fail('WRONG_STATE', 'offer ' .. offer_id .. ' was accepted') end
      redis.call('HDEL', P .. 'case:' .. id .. ':parties', unit)
      decline_mark(P, c, unit .. ':' .. offer_id)
      redis.call('SADD', P .. 'case:' .. id .. ':tried', unit)
      unit_drop(P, unit, id)
      redis.call('ZADD', P .. 'pending:dispatch', I(c._now), id)
      record(P, unit, 'declines_n'); community_unit_declined(P, unit)
      total(P, 'declines')
      log_event(P, c, 'declined', unit, reason .. (note ~= '' and (': ' .. note) or ''),
                { offer = offer_id, role = 'assist' })
      return ok(case_reply(c, { redispatch = true, role = 'assist' }))
    elseif kind == 'progress' then
      local digest = progress_digest(unit, offer_id, note)
      if progress_seen(P, c, digest) then return ok(case_reply(c, { duplicate = true, role = 'assist' })) end
      if party.state ~= 'ACCEPTED' then return fail('WRONG_STATE', 'offer ' .. offer_id .. ' is ' .. party.state) end
      if timeline_full(P, id) then return fail('BAD_VALUE', 'the timeline of ' .. id .. ' is full') end
      progress_keep(P, c, digest)
      log_event(P, c, 'progress', unit, note, { role = 'assist' })
      return ok(case_reply(c, { role = 'assist' }))
    elseif kind == 'resolve' then
      if party.state == 'REPORTED' then return ok(case_reply(c, { duplicate = true, role = 'assist' })) end
      if party.state ~= 'ACCEPTED' then return fail('WRONG_STATE', 'offer ' .. offer_id .. ' is ' .. party.state) end
      party.state = 'REPORTED'
      party_set(P, id, party)
      unit_drop(P, unit, id)
      record(P, unit, 'resolved_n')
      if c._now <= (tonumber(c.resolve_by) or 0) then record(P, unit, 'ontime_n') end
      log_event(P, c, 'assist_reported', unit, note, { role = 'assist' })
      local left, count = 0, 0
      for _, p in pairs(party_all(P, id)) do
        count = count + 1
        if p.state ~= 'REPORTED' then left = left + 1 end
      end
      local needed = tonumber(c.parties_needed) or 0
      if c.state == 'ACCEPTED' and (c.lead_resolved or '') ~= '' and left == 0 and count >= needed then
        resolve_case(P, c, unit, 'every party has reported', jobs)
      end
      -- the assisting units the case still waits for, as the lead is told
      local waiting = left + math.max(needed - count, 0)
      return ok(case_reply(c, { jobs = jobs, role = 'assist',
                                waiting_for = waiting > 0 and waiting or nil }))
    end
    return fail('PROTOCOL', 'unknown reply kind ' .. kind)
  end
  local mine = (c.unit == unit and c.offer_id == offer_id)
  local live = (c.state == 'DISPATCHED' and c.offer_id == offer_id and c.offer_unit == unit)
  if kind == 'accept' then
    if mine and (c.state == 'ACCEPTED' or c.state == 'RESOLVED') then
      return ok(case_reply(c, { duplicate = true }))
    end
    if not live then return fail('STALE', 'offer ' .. offer_id .. ' is not open for ' .. unit) end
    if tonumber(c.offer_by) < c._now then
      return fail('STALE', 'offer ' .. offer_id .. ' expired')
    end
    c.unit = unit; c.offer_by = 0
    c.responsible = dir_responsible(P, unit)
    move_state(P, c, 'ACCEPTED')
    save(P, c, { 'unit', 'offer_by', 'responsible' })
    unit_hold(P, unit, id)
    redis.call('ZADD', P .. 'idx:unit:' .. unit, I(c.created), id)
    record(P, unit, 'accepts_n')
    -- a joint case still finding parties stays in dispatch's pending set
    -- and so does one whose assist offers are still open: they must expire
    local settled = true
    if needed > 0 then
      settled = redis.call('HLEN', P .. 'case:' .. id .. ':parties') >= needed
      for _, p in pairs(party_all(P, id)) do
        if p.state == 'OFFERED' then settled = false end
      end
    end
    if settled then
      redis.call('ZREM', P .. 'pending:dispatch', id)
    else
      redis.call('ZADD', P .. 'pending:dispatch', 'NX', I(c._now), id)
    end
    redis.call('DEL', P .. 'case:' .. id .. ':tried')
    log_event(P, c, 'accepted', unit, c.responsible ~= '' and ('responsible: ' .. c.responsible) or '',
              { offer = offer_id, role = 'lead' }, { 'case.accepted', 'grid:' .. c.grid })
    return ok(case_reply(c, {}))
  elseif kind == 'decline' then
    -- a decline sent again is a duplicate; one of an offer that expired
    -- (its unit tried too, but never declined it) is stale: the case keeps
    -- its last DECLINES_KEPT declines as unit:offer
    local mark = unit .. ':' .. offer_id
    if not live then
      if marks_has(P, c, 'unit_declines', mark) then
        return ok(case_reply(c, { duplicate = true }))
      end
      return fail('STALE', 'offer ' .. offer_id .. ' is not open for ' .. unit)
    end
    decline_mark(P, c, mark)
    redis.call('SADD', P .. 'case:' .. id .. ':tried', unit)
    unit_drop(P, unit, id)
    record(P, unit, 'declines_n'); community_unit_declined(P, unit)
    c.offer_by = 0; c.offer_unit = ''
    save(P, c, { 'offer_by', 'offer_unit' })
    redis.call('ZADD', P .. 'pending:dispatch', I(c._now), id)
    total(P, 'declines')
    log_event(P, c, 'declined', unit, reason .. (note ~= '' and (': ' .. note) or ''),
              { offer = offer_id })
    return ok(case_reply(c, { redispatch = true }))
  end
  -- progress and resolve belong to the unit that holds the case
  if c.offer_id ~= offer_id and marks_has(P, c, 'void_offers', unit .. ':' .. offer_id) then
    -- this unit's offer, taken back (withdrawn): its replies are stale
    return fail('STALE', 'offer ' .. offer_id .. ' of case ' .. id .. ' was withdrawn (the case is '
                .. c.state .. ')')
  end
  if c.unit ~= unit or c.offer_id ~= offer_id then
    return fail('NOT_PERMITTED', 'case ' .. id .. ' is not held by ' .. unit .. ' under offer ' .. offer_id)
  end
  if kind == 'progress' then
    local digest = progress_digest(unit, offer_id, note)
    if progress_seen(P, c, digest) then return ok(case_reply(c, { duplicate = true })) end
    if c.state ~= 'ACCEPTED' then return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state) end
    if timeline_full(P, id) then return fail('BAD_VALUE', 'the timeline of ' .. id .. ' is full') end
    progress_keep(P, c, digest)
    log_event(P, c, 'progress', unit, note)
    return ok(case_reply(c, {}))
  elseif kind == 'resolve' then
    if c.state == 'RESOLVED' or c.state == 'VERIFIED' or c.state == 'CLOSED'
    or (c.lead_resolved or '') ~= '' then
      return ok(case_reply(c, { duplicate = true }))
    end
    if c.state ~= 'ACCEPTED' then return fail('WRONG_STATE', 'case ' .. id .. ' is ' .. c.state) end
    unit_drop(P, unit, id)
    record(P, unit, 'resolved_n')
    if c._now <= (tonumber(c.resolve_by) or 0) then record(P, unit, 'ontime_n') end
    local left, count = 0, 0
    if needed > 0 then
      for _, p in pairs(party_all(P, id)) do
        count = count + 1
        if p.state ~= 'REPORTED' then left = left + 1 end
      end
    end
    if left > 0 or count < needed then
      -- the lead is done, the case waits for its assisting units (a case
      -- resolved at once needs no mark: its state says it)
      c.lead_resolved = c._now
      save(P, c, { 'lead_resolved' })
      log_event(P, c, 'lead_resolved', unit, note, { waiting_for = (needed - count) + left })
      return ok(case_reply(c, { waiting_for = (needed - count) + left }))
    end
    resolve_case(P, c, unit, note, jobs)
    return ok(case_reply(c, { jobs = jobs }))
  end
  return fail('PROTOCOL', 'unknown reply kind ' .. kind)
end

-- case_brief(P, id...): what dispatch needs to pick candidates, for a batch.
local function case_brief(keys, a)
  local out = {}
  for i = 2, #a do
    local h = redis.call('HMGET', a[1] .. 'case:' .. a[i], 'state', 'tier', 'grid', 'category',
                         'channel')
    if h[1] then
      table.insert(out, { id = a[i], state = h[1], tier = tonumber(h[2]), grid = h[3],
                          category = h[4], channel = h[5] })
    else
      redis.call('ZREM', a[1] .. 'pending:dispatch', a[i])
    end
  end
  return ok({ cases = out })
end

-- The offers still waiting for unit u, checked against their cases.
local function live_offers(P, u, now)
  local out = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', load_key(P, u), now, '(' .. HELD)) do
    local c = case_hash(P, id)
    if c then
      if c.state == 'DISPATCHED' and c.offer_unit == u and (tonumber(c.offer_by) or 0) > now then
        table.insert(out, offer_out(c, u, c.offer_id, 'lead', tonumber(c.offer_by)))
      else
        local pjs = redis.call('HGET', P .. 'case:' .. id .. ':parties', u)
        local p = pjs and cjson.decode(pjs)
        if p and p.state == 'OFFERED' and p.by > now then
          table.insert(out, offer_out(c, u, p.offer, 'assist', p.by))
        end
      end
    end
  end
  return out
end

-- unit_cases(P, unit): cases the unit holds (lead or assisting, accepted
-- and not reported), with what a unit needs to go on with each after a
-- reconnect, and the offers still waiting for its answer.
local function unit_cases(keys, a)
  local P, u = a[1], a[2]
  local now = now_ms()
  local held = {}
  for _, id in ipairs(unit_held(P, u)) do
    local c = case_hash(P, id)
    if c and c.unit == u and c.state == 'ACCEPTED' and (c.lead_resolved or '') == '' then
      table.insert(held, offer_out(c, u, c.offer_id, 'lead', 0))
    elseif c then
      local pjs = redis.call('HGET', P .. 'case:' .. id .. ':parties', u)
      local p = pjs and cjson.decode(pjs)
      if p and p.state == 'ACCEPTED' then table.insert(held, offer_out(c, u, p.offer, 'assist', 0)) end
    end
  end
  return ok({ cases = held, offers = live_offers(P, u, now) })
end

-- Cases that waited for a unit (dispatch:waiting, the first 1000) are
-- due for dispatch's round now: never later than they were (LT), so a
-- second pull in the same moment (hello, then its ready sets) writes
-- nothing. Returns how many.
local function waiting_forward(P, now)
  local waiting = redis.call('ZRANGE', P .. 'dispatch:waiting', 0, 999)
  if #waiting == 0 then return 0 end
  local args = {}
  local at = I(now or now_ms())
  for _, id in ipairs(waiting) do args[#args + 1] = at; args[#args + 1] = id end
  redis.call('ZADD', P .. 'pending:dispatch', 'XX', 'LT', unpack(args))
  return #waiting
end

-- unit_hello(P, unit, claim): a unit connected; claim is the capacity it
-- claimed (0 = the directory's).
local function unit_hello(keys, a)
  local P, u = a[1], a[2]
  local now = now_ms()
  redis.call('HSET', P .. 'unit:' .. u, 'claim', tonumber(a[3]) or 0, 'hello_at', now)
  unit_forget(P, u)
  redis.call('HSET', P .. 'units:connected', u, now)
  -- cases that waited for a unit are looked at again now
  return ok({ now = now, waiting = waiting_forward(P, now) })
end

-- units_seen(P, unit...): these units are connected now.
local function units_seen(keys, a)
  local now = now_ms()
  local args = {}
  for i = 2, #a do table.insert(args, a[i]); table.insert(args, now) end
  if #args > 0 then redis.call('HSET', a[1] .. 'units:connected', unpack(args)) end
  return ok({ now = now })
end

-- Units ready to be offered a new case at once (registered and offered
-- in one step, 20_cases register): ready:<tier>:<grid>:<category> holds the
-- units dispatch has connected, on duty and fitting that case, by their
-- directory record and hello claims (dispatch decides, street_check);
-- ready:unit:<u> the keys unit u is in. Spare capacity is checked when a
-- case is offered (standing).

-- Take unit u out of every ready set.
local function ready_clear(P, u)
  local keys = redis.call('SMEMBERS', P .. 'ready:unit:' .. u)
  for _, k in ipairs(keys) do redis.call('SREM', P .. 'ready:' .. k, u) end
  if #keys > 0 then redis.call('DEL', P .. 'ready:unit:' .. u) end
  redis.call('SREM', P .. 'ready:units', u)
end

-- ready(P, unit, verb, key...): verb 'clear' takes the unit out of every
-- ready set, 'add' puts it in the sets of these keys ("<tier>:<grid>:<category>").
local function ready(keys, a)
  local P, u, verb = a[1], a[2], a[3]
  if verb == 'clear' then
    ready_clear(P, u)
  elseif verb == 'add' then
    for i = 4, #a do redis.call('SADD', P .. 'ready:' .. a[i], u) end
    if #a >= 4 then
      redis.call('SADD', P .. 'ready:unit:' .. u, unpack(a, 4))
      redis.call('SADD', P .. 'ready:units', u)
      -- a unit ready for more (its duty began, the directory changed):
      -- the cases registration found no unit for are looked at now
      waiting_forward(P)
    end
  else
    return fail('BAD_VALUE', 'verb must be clear or add')
  end
  return ok({})
end

-- Dispatch's timings that transitions outside dispatch use, which
-- gc_units_reset writes to cfg:<name>, kept per key prefix and read again
-- every DIR_CHECK_CALLS uses (a Redis that was a replica while another
-- dispatch set them, and leads again, catches up): offer_answer_ms, how
-- long a unit has to answer an offer (offer_timeout_ms); offer_retry_ms,
-- how long a case no unit could take waits before dispatch looks again
-- (retry_ms), for the cases gc_register records waiting itself.
local DISPATCH_CFG = { offer_answer_ms = 30000, offer_retry_ms = 5000 }
local dispatch_cfg = {}
local function dispatch_cfg_of(P, name, set)
  local k = P .. name
  local e = dispatch_cfg[k]
  if set then
    e = { value = set, uses = 0 }
    dispatch_cfg[k] = e
  elseif not e or e.uses >= DIR_CHECK_CALLS then
    e = { value = tonumber(redis.call('GET', P .. 'cfg:' .. name)) or DISPATCH_CFG[name], uses = 0 }
    dispatch_cfg[k] = e
  end
  e.uses = e.uses + 1
  return e.value
end
local function answer_ms_of(P) return dispatch_cfg_of(P, 'offer_answer_ms') end
local function retry_ms_of(P) return dispatch_cfg_of(P, 'offer_retry_ms') end

-- units_reset(P, answer_ms[, retry_ms]): dispatch starts with no sessions;
-- no unit is ready; offers made at registration give units answer_ms to
-- answer, and cases registration finds no unit for wait retry_ms.
local function units_reset(keys, a)
  local P = a[1]
  redis.call('DEL', P .. 'units:connected')
  -- a store from before idx:open: its open cases move there, the open
  -- counters it kept go (open_counts counts them now)
  for _, s in ipairs(STATES) do
    local k = P .. 'idx:state:' .. s
    if OPEN[s] and redis.call('EXISTS', k) == 1 then
      redis.call('ZUNIONSTORE', P .. 'idx:open', 2, P .. 'idx:open', k, 'AGGREGATE', 'MIN')
      redis.call('DEL', k)
    end
  end
  redis.call('DEL', P .. 'stats:open_tier', P .. 'stats:open_grid', P .. 'stats:open_category')
  -- ... and the closed cases' index it kept goes (closed_count counts them
  -- now), freed in the background
  redis.call('UNLINK', P .. 'idx:state:CLOSED')
  -- ... and its open figures are counted once into stats:open
  if redis.call('EXISTS', P .. 'stats:open') == 0 then
    for _, id in ipairs(redis.call('ZRANGE', P .. 'idx:open', 0, -1)) do
      local h = redis.call('HMGET', P .. 'case:' .. id, 'state', 'tier', 'grid', 'category')
      local f = h[1] and open_field({ state = h[1], tier = h[2], grid = h[3], category = h[4] })
      if f then redis.call('HINCRBY', P .. 'stats:open', f, '1') end
    end
  end
  -- ... and its open cases go into idx:near (possible duplicates), once
  if redis.call('EXISTS', P .. 'cfg:idx_near') == 0 then
    for _, id in ipairs(redis.call('ZRANGE', P .. 'idx:open', 0, -1)) do
      local h = redis.call('HMGET', P .. 'case:' .. id, 'grid', 'category', 'created')
      if h[1] and h[3] then
        redis.call('ZADD', P .. 'idx:near:' .. h[1] .. ':' .. (h[2] or ''), h[3], id)
      end
    end
    redis.call('SET', P .. 'cfg:idx_near', '1')
  end
  -- and its units' held cases and offers move to their load sets
  for _, u in ipairs(redis.call('SMEMBERS', P .. 'dir:units')) do
    local held, offers = P .. 'unit:' .. u .. ':cases', P .. 'unit:' .. u .. ':offers'
    for _, id in ipairs(redis.call('SMEMBERS', held)) do unit_hold(P, u, id) end
    local o = redis.call('ZRANGE', offers, 0, -1, 'WITHSCORES')
    for i = 1, #o, 2 do redis.call('ZADD', load_key(P, u), 'NX', o[i + 1], o[i]) end
    if #o > 0 then redis.call('DEL', offers) end
    redis.call('DEL', held)
  end
  for _, u in ipairs(redis.call('SMEMBERS', P .. 'ready:units')) do ready_clear(P, u) end
  for i, name in ipairs({ 'offer_answer_ms', 'offer_retry_ms' }) do
    local ms = tonumber(a[i + 1])
    if ms and ms > 0 then
      redis.call('SET', P .. 'cfg:' .. name, I(ms))
      dispatch_cfg_of(P, name, ms)
    end
  end
  return ok({})
end

-- unit_gone(P, unit, why): the unit's session ended (bye, silence,
-- unroutable). Its waiting offers move on now; it keeps accepted cases.
-- Returns the cases to dispatch again.
local function unit_gone(keys, a)
  local P, u, reason = a[1], a[2], a[3] or 'gone'
  local now = now_ms()
  redis.call('HDEL', P .. 'units:connected', u)
  ready_clear(P, u)
  local moved = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', load_key(P, u), '-inf', '(' .. HELD)) do
    local c = load_case(P, id)
    if c then
      local withdrawn = nil
      if c.state == 'DISPATCHED' and c.offer_unit == u and (tonumber(c.offer_by) or 0) > now then
        withdrawn = c.offer_id
        c.offer_by = 0; c.offer_unit = ''
        save(P, c, { 'offer_by', 'offer_unit' })
      else
        local pjs = redis.call('HGET', P .. 'case:' .. id .. ':parties', u)
        local p = pjs and cjson.decode(pjs)
        if p and p.state == 'OFFERED' then
          withdrawn = p.offer
          redis.call('HDEL', P .. 'case:' .. id .. ':parties', u)
        end
      end
      if withdrawn then
        record(P, u, 'expired_n')
        total(P, 'offers_withdrawn')
        log_event(P, c, 'offer_withdrawn', 'dispatch', u .. ' went away (' .. reason ..
                  '); the offer moves on', { offer = withdrawn })
        redis.call('ZADD', P .. 'pending:dispatch', now, id)
        table.insert(moved, id)
      end
    end
  end
  redis.call('ZREMRANGEBYSCORE', load_key(P, u), '-inf', '(' .. HELD)
  return ok({ moved = moved })
end

-- route_rank(P, cand...): the standing of each candidate, for a dry run.
local function route_rank(keys, a)
  local P, now = a[1], now_ms()
  local out = {}
  local connected = {}
  for i = 2, #a do
    local s = standing(P, a[i], now)
    local h = redis.call('HMGET', P .. 'unit:' .. a[i], 'accepts_n', 'declines_n', 'expired_n',
                         'resolved_n', 'ontime_n')
    s.accepts_n = tonumber(h[1]) or 0
    s.offers_n = s.accepts_n + (tonumber(h[2]) or 0) + (tonumber(h[3]) or 0)
    s.resolved_n = tonumber(h[4]) or 0; s.ontime_n = tonumber(h[5]) or 0
    s.seen = tonumber(redis.call('HGET', P .. 'units:connected', a[i])) or 0
    table.insert(out, s)
  end
  return ok({ now = now, units = out })
end

-- withdrawals(P, max): take up to max withdrawn notices (oldest first),
-- each with the case's state and tier now, for dispatch to send.
local function withdrawals(keys, a)
  local P = a[1]
  local out = {}
  local items = redis.call('LPOP', P .. 'withdrawals', tonumber(a[2]) or 100)
  for _, text in ipairs(items or {}) do
    local okd, w = pcall(cjson.decode, text)
    if okd and type(w) == 'table' then
      local h = redis.call('HMGET', P .. 'case:' .. (w[2] or ''), 'state', 'tier')
      table.insert(out, { unit = w[1], case_id = w[2], offer_id = w[3], reason = w[4],
                          note = w[5], state = h[1] or '', tier = tonumber(h[2]) or 0 })
    end
  end
  return ok({ withdrawn = out })
end

redis.register_function('gc_offer', offer)
redis.register_function('gc_unit_reply', unit_reply)
redis.register_function('gc_withdrawals', withdrawals)
redis.register_function('gc_case_brief', case_brief)
redis.register_function('gc_unit_hello', unit_hello)
redis.register_function('gc_units_seen', units_seen)
redis.register_function('gc_units_reset', units_reset)
redis.register_function('gc_ready', ready)
redis.register_function('gc_unit_gone', unit_gone)
redis.register_function{ function_name = 'gc_unit_cases', callback = unit_cases, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_route_rank', callback = route_rank, flags = { 'no-writes' } }
