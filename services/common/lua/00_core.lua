#!lua name=gridcall
-- gridcall transitions: each function is one atomic step that checks the
-- case's state and version, updates it, appends to its timeline and the
-- event stream, moves counters and queues follow-up work (DESIGN.md §5).
-- Every function takes the key prefix as ARGV[1] and returns JSON.
--
-- The library is the files of this folder in name order, joined at build
-- time (Redis loads one library per FUNCTION LOAD); a file may use the
-- locals of the files before it. This one holds the shared helpers.

local TIERS = { 'GRID', 'COMMUNITY', 'STREET', 'DISTRICT' }
local OPEN = { REGISTERED = true, DISPATCHED = true, ACCEPTED = true,
               REOPENED = true, ESCALATED = true, RESOLVED = true }
local EVENTS_MAX = '10000'

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A number as Redis wants it. Redis formats a Lua number argument with
-- "%.17g" and Lua a number with "%.14g", both through the C library's
-- floating-point printf; integers formatted as integers cost a fraction.
local function I(x)
  local t = type(x)
  if t == 'string' then return x end
  if t == 'number' and x == math.floor(x) and x > -1e15 and x < 1e15 then
    return string.format('%d', x)
  end
  return tostring(x)
end

local function ok(t) t.ok = true; return cjson.encode(t) end

local function fail(code, msg, extra)
  local t = extra or {}
  t.ok = false; t.code = code; t.message = msg
  return cjson.encode(t)
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

-- The directory's hot parts, kept in the library's memory per key prefix:
-- a new report's grid, category and street, a unit's responsible person.
-- The directory changes only through gc_dir_load, which forgets them (a
-- library load or a Redis restart starts empty), so a transition reads
-- none of them from the keyspace once they are known.
-- Every DIR_CHECK_CALLS uses, the cache is checked against dir:version,
-- which every load moves: a Redis that was a replica while the directory
-- was reloaded (its keys moved by replication, not by this library) and
-- leads again drops what it kept from before.
local dir_cache = {}
local DIR_CHECK_CALLS = 100
local function dir_of(P)
  local d = dir_cache[P]
  if d then
    d.uses = d.uses + 1
    if d.uses < DIR_CHECK_CALLS then return d end
    d.uses = 0
    if redis.call('GET', P .. 'dir:version') == d.version then return d end
  end
  d = { grid = {}, cat = {}, resp = {}, uses = 0,
        version = redis.call('GET', P .. 'dir:version') or false }
  dir_cache[P] = d
  return d
end
local function dir_forget(P) dir_cache[P] = nil end

local CAT_FIELDS = { 'start_tier', 'kind', 'joint_units', 'joint_1', 'joint_2', 'joint_3',
                     'joint_4', 'limit_1', 'limit_2', 'limit_3', 'limit_4', 'clock', 'remind',
                     'verify_minutes', 'team' }

-- A category of the directory as a table of CAT_FIELDS, or nil.
local function dir_cat(P, code)
  local d = dir_of(P)
  local t = d.cat[code]
  if t then return t end
  local h = redis.call('HMGET', P .. 'dir:cat:' .. code, unpack(CAT_FIELDS))
  if not h[1] then return nil end
  t = {}
  for i, f in ipairs(CAT_FIELDS) do t[f] = h[i] end
  d.cat[code] = t
  return t
end

-- A grid's community and its buildings (" B1 B2 "), or nil.
local function dir_grid(P, g)
  local d = dir_of(P)
  local t = d.grid[g]
  if t then return t end
  local h = redis.call('HMGET', P .. 'dir:grid:' .. g, 'community', 'buildings')
  if not h[1] then return nil end
  t = { community = h[1], buildings = h[2] }
  d.grid[g] = t
  return t
end

-- The street's UTC offset (minutes) and ledger code.
local function dir_street(P)
  local d = dir_of(P)
  if not d.street then
    local h = redis.call('HMGET', P .. 'dir:street', 'utc_offset_minutes', 'code')
    d.street = { offset = tonumber(h[1]) or 0, code = h[2] or 'GC' }
  end
  return d.street
end

-- The person responsible at unit u ('' when none).
local function dir_responsible(P, u)
  local d = dir_of(P)
  local r = d.resp[u]
  if r == nil then
    r = redis.call('HGET', P .. 'unit:' .. u, 'responsible') or ''
    d.resp[u] = r
  end
  return r
end

-- A case's hash whole, with its id and ledger number (the key's), or nil.
local function case_hash(P, id)
  local c = hgetall(P .. 'case:' .. id)
  if c then c.id = id; c.ledger = c.ledger or id; c.clock = c.clock or 'wall' end
  return c
end

-- Days since 1970-01-01 to civil date (H. Hinnant's algorithm).
local function ymd(days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
                         - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d%02d%02d', y, m, d)
end

-- What a unit may add to one timeline by messages (progress notes,
-- extension requests): the ledger stays readable and memory bounded.
local TIMELINE_UNIT_MAX = 2000

-- A case's timeline is the hash case:<id>:tl of entry number ("1", "2",
-- ...) -> entry: a small hash is one listpack, where a list is a
-- quicklist with a node of its own, some 80 bytes more a case. A case
-- registered by an earlier gridcall keeps its entries in the list
-- case:<id>:log, read and appended to as before.
local function tl_key(P, id) return P .. 'case:' .. id .. ':tl' end
-- Entry numbers as text (field names, job ids, the stream's n), each
-- formatted once per library load: formatting a number costs about as
-- much as a small write's Lua side.
local TL_FIELDS = {}
local function tl_field(i)
  local f = TL_FIELDS[i]
  if not f then f = string.format('%d', i); TL_FIELDS[i] = f end
  return f
end
local function tl_list(P, id) return P .. 'case:' .. id .. ':log' end

-- How many entries case id's timeline holds, and whether it is the list.
local function tl_len(P, id)
  local n = redis.call('HLEN', tl_key(P, id))
  if n > 0 then return n, false end
  n = redis.call('LLEN', tl_list(P, id))
  return n, n > 0
end

local TL_PAGE = 1000

-- Entries from..to of case id's timeline (1-based, both included; a
-- negative number counts from the end, -1 the last), oldest first.
local function tl_get(P, id, from, to)
  local n, list
  if from < 0 or to < 0 then
    n, list = tl_len(P, id)
    if from < 0 then from = n + from + 1 end
    if to < 0 then to = n + to + 1 end
  end
  if from < 1 then from = 1 end
  if n and to > n then to = n end
  if from > to then return {} end
  if not list then
    -- (a page of fields at a time: unpack has a limit, a timeline none)
    local out = {}
    for lo = from, to, TL_PAGE do
      local f = {}
      for i = lo, math.min(lo + TL_PAGE - 1, to) do f[#f + 1] = tl_field(i) end
      for _, t in ipairs(redis.call('HMGET', tl_key(P, id), unpack(f))) do
        if t then out[#out + 1] = t end
      end
    end
    -- nothing in the hash, and not known to be a hash: the list's
    if #out > 0 or list == false then return out end
  end
  return redis.call('LRANGE', tl_list(P, id), from - 1, to - 1)
end

-- Append texts to case c's timeline (a new case's is a hash at once).
-- Returns the last entry's number and whether the timeline is the list.
local function tl_append(P, c, texts)
  local key, n = tl_key(P, c.id), 0
  if not c._fresh then
    n = redis.call('HLEN', key)
    if n == 0 and redis.call('EXISTS', tl_list(P, c.id)) == 1 then
      return redis.call('RPUSH', tl_list(P, c.id), unpack(texts)), true
    end
  end
  local args = {}
  for i, t in ipairs(texts) do args[2 * i - 1] = tl_field(n + i); args[2 * i] = t end
  redis.call('HSET', key, unpack(args))
  return n + #texts, false
end

local function timeline_full(P, id)
  return tl_len(P, id) >= TIMELINE_UNIT_MAX
end

-- A timeline entry is a JSON array in fixed positions (the same nine keys
-- in every entry cost more than the data, in memory and in the AOF):
--   [at, what, who, state, tier, unit, deadline, note, version, extra]
-- extra is an object of event-specific fields, absent when none (1 when
-- its only field would be the common job, below); its "job" field, when
-- present, is the notification queued with the entry: 1 for the common
-- one, else [event, audience, note-if-not-the-entry's]. event_decode turns an entry
-- back into the keyed object every reader sees.
-- A case's entries (log_event) keep at as ms since the case was created
-- (a number below AT_ABSOLUTE: an absolute time is above it, as in a
-- matter's entries and in entries written before), and state as 0 when
-- it is the one the event names (STATE_OF): a 13-digit time and a state
-- name in every entry were a sixth of its size, and cjson formats a
-- large number through printf. A deadline and an offer's answer_by are
-- kept the same way, from the case's creation. What an entry can be told
-- from the case or the entry before is left out too (entry_pack, undone
-- by event_decode): a registration's note (its tier and the case's
-- channel), the lead role of an offer or acceptance, an offer's field
-- names (o: [offer, offer_unit, answer_by, why]), "responsible: "
-- before an acceptance's note, and the client's name (by) of a closing
-- that its verification gave. A closed case's timeline is then under
-- 512 bytes, one allocation size smaller.
local EVENT_KEYS = { 'at', 'what', 'who', 'state', 'tier', 'unit', 'deadline', 'note', 'version' }
local AT_ABSOLUTE = 1e12
local STATE_OF = { registered = 'REGISTERED', offered = 'DISPATCHED', accepted = 'ACCEPTED',
                   resolved = 'RESOLVED', verified = 'VERIFIED', closed = 'CLOSED',
                   reopened = 'REOPENED', escalated = 'ESCALATED', parked = 'PARKED' }

-- The notification an entry's job stands for. An entry written by
-- log_event keeps the common job as 1: event 'case.<what>', audience the
-- case's grid ('reporter:<case id>' when it closes: the reporter, named by
-- the case, never by a phone number); others spell it out.
local function common_job(what, grid, case_id)
  if what == 'closed' then return 'case.closed', 'reporter:' .. (case_id or '') end
  return 'case.' .. what, 'grid:' .. (grid or '')
end
local function job_expand(job, what, grid, case_id)
  if job ~= 1 then return job end
  local event, audience = common_job(what, grid, case_id)
  return { event, audience }
end

-- An offer's "why this unit", kept in the entry as numbers (why, by
-- offer_why: ranked, spare, capacity, accept and on-time rates in
-- hundredths, then the runner-up's unit, spare and rates) and told as
-- text when read: the text is most of an entry's size.
local function why_text(unit, role, w)
  local function rate(x) return string.format('%.2f', (tonumber(x) or 0) / 100) end
  local note = string.format('offered to %s as %s: ranked 1 of %d: spare %d of %d, accept rate %s, on time %s',
                             tostring(unit), tostring(role), tonumber(w[1]) or 0, tonumber(w[2]) or 0,
                             tonumber(w[3]) or 0, rate(w[4]), rate(w[5]))
  if w[6] then
    note = note .. string.format('; next %s: spare %d, accept rate %s, on time %s', tostring(w[6]),
                                 tonumber(w[7]) or 0, rate(w[8]), rate(w[9]))
  end
  return note
end

-- A registration's note, which its entry leaves out when it says this.
local function registered_note(tier, channel)
  return 'tier ' .. (TIERS[tonumber(tier)] or tostring(tier)) .. ', channel ' .. (channel or '')
end
local RESPONSIBLE = 'responsible: '

-- Decode one entry. The deadline is written only when it moved since the
-- entry before (0 otherwise): prev, the decoded entry before, fills it in;
-- without prev (a single entry read on its own) it stays absent. created,
-- the case's (ms), turns a case entry's times back into times; channel,
-- the case's, tells a registration's note (without it, that stays empty).
local function event_decode(text, prev, created, channel)
  local okd, v = pcall(cjson.decode, text)
  if not okd or type(v) ~= 'table' then return nil end
  if v[1] == nil then return v end
  local ev = {}
  for i, k in ipairs(EVENT_KEYS) do ev[k] = v[i] end
  created = tonumber(created) or 0
  if type(ev.at) == 'number' and ev.at < AT_ABSOLUTE then ev.at = ev.at + created end
  if ev.state == 0 then ev.state = STATE_OF[ev.what] end
  if ev.deadline == 0 then ev.deadline = prev and prev.deadline or nil
  elseif type(ev.deadline) == 'number' and ev.deadline < AT_ABSOLUTE then
    ev.deadline = ev.deadline + created
  end
  local what, x = ev.what, v[10]
  if x == 1 then x = { job = 1 } end       -- the common job and nothing else
  if type(x) == 'table' then
    local o = x.o
    if type(o) == 'table' then
      x.offer, x.offer_unit, x.answer_by, x.why, x.o = o[1], o[2], o[3], o[4], nil
    end
    for k, y in pairs(x) do if k ~= 'job' and k ~= 'why' then ev[k] = y end end
    if type(ev.answer_by) == 'number' and ev.answer_by < AT_ABSOLUTE then
      ev.answer_by = ev.answer_by + created
    end
    if x.offer and not x.role and (what == 'offered' or what == 'accepted') then ev.role = 'lead' end
    if type(x.why) == 'table' then ev.note = why_text(x.offer_unit, ev.role, x.why) end
  end
  if what == 'registered' then
    if ev.note == '' and channel then ev.note = registered_note(ev.tier, channel) end
  elseif what == 'accepted' then
    if (ev.note or '') ~= '' and string.sub(ev.note, 1, #RESPONSIBLE) ~= RESPONSIBLE then
      ev.note = RESPONSIBLE .. ev.note
    end
  elseif what == 'closed' and not ev.by and prev and prev.what == 'verified' then
    ev.by = prev.by
  end
  return ev, x and x.job
end

-- What event_decode restores, left out of the entry of case c: returns
-- the note and extra as stored (extra nil when none, 1 when its only
-- field is the common job). created is the case's (ms), when loaded.
local function entry_pack(c, what, note, extra, created)
  local stored = note or ''
  if what == 'registered' and stored == registered_note(c.tier, c.channel) then stored = ''
  elseif what == 'accepted' and string.sub(stored, 1, #RESPONSIBLE) == RESPONSIBLE then
    stored = string.sub(stored, #RESPONSIBLE + 1)
  end
  if not extra then return stored, nil end
  if created then
    if extra.role == 'lead' and (what == 'offered' or what == 'accepted') then extra.role = nil end
    local by = tonumber(extra.answer_by)
    if by and by > created then extra.answer_by = by - created end
    -- an offer's four fields in fixed positions: their names were a third
    -- of the entry
    if what == 'offered' and extra.offer and extra.offer_unit and extra.answer_by and extra.why then
      extra.o = { extra.offer, extra.offer_unit, extra.answer_by, extra.why }
      extra.offer, extra.offer_unit, extra.answer_by, extra.why = nil, nil, nil, nil
    end
  end
  if extra.job == 1 and next(extra, next(extra)) == nil then return stored, 1 end
  return stored, extra
end

-- The jobs a call queued, for its reply (nil when none: cjson would write
-- an empty table as {}).
local function jobs_of(c)
  if c._jobs and #c._jobs > 0 then return c._jobs end
  return nil
end

-- How long a new job waits for its wake-up before a sweep may claim it
-- (cfg:job_grace, notify's lease, written by gc_notify_grace), read once
-- per library load: only gc_notify_grace changes it, and updates this.
local job_grace_ms = nil
local function job_grace(P, set)
  if set then job_grace_ms = set end
  if not job_grace_ms then job_grace_ms = tonumber(redis.call('GET', P .. 'cfg:job_grace')) or 0 end
  return job_grace_ms
end

-- Queue the notification job of entry n (job = { event, audience, note? },
-- note defaulting to the entry's) for notify (commit, then send: the
-- caller wakes notify with jobs_of and the job's content, job_info, after
-- the call returns). A job is the timeline entry it notifies of: id
-- '<case>:<entry number>'.
local function queue_job(P, c, n, job, entry_note, was)
  local id = c.id .. ':' .. tl_field(n)
  -- due for a sweep after notify's grace: the wake-up normally gets there
  -- first and carries the job, so notify need not read it
  redis.call('ZADD', P .. 'pending:notify', I(c._now + job_grace(P)), id)
  c._jobs = c._jobs or {}
  c._job_info = c._job_info or {}
  table.insert(c._jobs, id)
  -- the notification in fixed positions (daemon.c gc_wake_notify reads
  -- them): [id, event, audience, note, state, tier, unit, at]; what is the
  -- case's own goes once per case in the reply's job_cases (job_cases_of)
  -- the case as its entry was logged (was, for a held entry: a register
  -- that offers at once flushes its "registered" entry once DISPATCHED),
  -- so the wake-up says what a read of the job from Redis says
  was = was or c
  table.insert(c._job_info, { id, job[1], job[2] or '', job[3] or entry_note or '', was.state,
                              tonumber(was.tier) or 0, was.unit or '', c._now })
  c._job_case = c._job_case or {}
  c._job_case[c.id] = c
  return id
end

-- The reply's job_cases: case id -> [ledger, grid, category, via,
-- followers] of each case (or matter) a job of this call notifies of.
local function job_cases_of(cases)
  local out = {}
  for id, x in pairs(cases or {}) do
    out[id] = { x.ledger or id, x.grid or '', x.category or '', x.via or '', x.followers or '' }
  end
  return out
end

-- Hold the entries of this call (two events of one step: registered and
-- offered, verified and closed) for one log_flush.
local function log_begin(c) c._held = {} end

-- Write the held entries in one HSET and announce them in one stream
-- entry, c <case> n <last entry number> k <how many> (k left out when
-- 1); then queue their jobs. Returns the last entry's number.
local function log_flush(P, c)
  local held = c._held
  c._held = nil
  if not held or #held == 0 then return c._evn end
  local texts = {}
  for i, x in ipairs(held) do texts[i] = cjson.encode(x[1]) end
  local n, list = tl_append(P, c, texts)
  c._fresh, c._tl_list = nil, list
  -- the stream is trimmed by the pending-set claims (gc_claim), not by
  -- every XADD: an XADD with MAXLEN goes to the AOF with its exact length
  if #held == 1 then
    redis.call('XADD', P .. 'events', '*', 'c', c.id, 'n', tl_field(n))
  else
    redis.call('XADD', P .. 'events', '*', 'c', c.id, 'n', tl_field(n), 'k', tl_field(#held))
  end
  c._ev, c._evn, c._ev_note = held[#held][1], n, held[#held][3] or ''
  local first = n - #held + 1
  for i, x in ipairs(held) do
    if x[2] then queue_job(P, c, first + i - 1, x[2], x[3], x[4]) end
  end
  return n
end

-- Append one timeline entry and announce it on the event stream (the
-- stream names the entry; readers fetch it from the timeline). job,
-- { event, audience [, note] }, queues a notification of this entry. The
-- entry leaves out what the entry before it already says: the deadline
-- when it has not moved (0), the job when it is the common one (1).
-- Between log_begin and log_flush, entries are held and written together.
local function log_event(P, c, what, who, note, extra, job)
  local created = tonumber(c.created)
  -- who is the authenticated principal; c._by the name its client gave
  -- (a closing's is its verification's, the entry before: left out)
  if (c._by or '') ~= '' and not (what == 'closed' and c._by_logged == c._by) then
    extra = extra or {}; extra.by = c._by
  end
  c._by_logged = what == 'verified' and c._by or nil
  if job then
    extra = extra or {}
    if job[3] == nil or job[3] == (note or '') then job[3] = nil end
    local event, audience = common_job(what, c.grid, c.id)
    if job[3] == nil and job[1] == event and job[2] == audience then
      extra.job = 1
    else
      extra.job = job
    end
  end
  local stored, packed = entry_pack(c, what, note, extra, created)
  local deadline = tonumber(c.resolve_by) or 0
  local last = c._ev_deadline
  if last == nil then last = c._deadline0 end
  local written = deadline
  if deadline == last then written = 0
  elseif created and deadline > created then written = deadline - created end
  local ev = { created and c._now - created or c._now, what, who or '',
               STATE_OF[what] == c.state and 0 or c.state, tonumber(c.tier) or 0, c.unit or '',
               written, stored, tonumber(c.version) or 0, packed }
  c._ev_deadline = deadline
  local held = c._held
  if held then
    table.insert(held, { ev, job, note, job and { state = c.state, tier = c.tier, unit = c.unit } })
    return nil
  end
  c._held = { { ev, job, note } }
  return log_flush(P, c)
end

-- The events an events stream entry ({field, value, ...}) names, as
-- readers want them: case, grid, category and the keyed event as JSON
-- text, oldest first. Empty when the case or its entries are gone.
local function stream_events(P, fields)
  local f = {}
  for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
  if f.event then return { f } end
  -- a matter's entry (09_matter_link matter_log) names m: its timeline is
  -- read the same way, its template standing for the category
  local kind = f.m and 'matter' or 'case'
  local id, n, k = f.c or f.m, tonumber(f.n), tonumber(f.k) or 1
  if not id or not n then return {} end
  local texts
  if kind == 'case' then texts = tl_get(P, id, n - k + 1, n)
  else texts = redis.call('LRANGE', P .. kind .. ':' .. id .. ':log', n - k, n - 1) end
  if #texts == 0 then return {} end
  local h = redis.call('HMGET', P .. kind .. ':' .. id, 'grid', kind == 'case' and 'category' or 'template',
                       'resolve_by', 'created', 'channel')
  local out, prev = {}, nil
  for _, text in ipairs(texts) do
    local ev = event_decode(text, prev, h[4], h[5])
    if ev then
      -- an entry that left its deadline out: the case's (the feed shows now)
      if ev.deadline == nil then ev.deadline = tonumber(h[3]) end
      prev = ev
      table.insert(out, { case = id, grid = h[1] or '', category = h[2] or '', kind = kind,
                          event = cjson.encode(ev) })
    end
  end
  return out
end

-- Queue a "withdrawn" notice for unit u, whose offer (held or waiting)
-- for case c this transition takes back; reason is a WithdrawReason name
-- without its prefix (ESCALATED, PARKED, REOPENED). Dispatch takes the
-- notices after the commit (gc_withdrawals) and tells the units: advisory,
-- a unit that misses one is refused on its next reply for that offer.
-- A case field holding its last few marks ("a,b,c"): whether item is
-- among them, and adding one (the oldest dropped past max). The field is
-- read from c when c was loaded whole, else from Redis.
local function marks_of(P, c, field)
  if c._known == true or (type(c._known) == 'table' and c._known[field]) then return c[field] or '' end
  return redis.call('HGET', P .. 'case:' .. c.id, field) or ''
end

local function marks_has(P, c, field, item)
  return string.find(',' .. marks_of(P, c, field) .. ',', ',' .. item .. ',', 1, true) ~= nil
end

local function marks_add(P, c, field, item, max)
  local list = {}
  for v in string.gmatch(marks_of(P, c, field), '[^,]+') do list[#list + 1] = v end
  list[#list + 1] = item
  while #list > max do table.remove(list, 1) end
  c[field] = table.concat(list, ',')
  redis.call('HSET', P .. 'case:' .. c.id, field, c[field])
end

local VOID_KEPT = 16
local function withdraw(P, c, u, offer, reason, note)
  if (u or '') == '' or (offer or '') == '' then return end
  redis.call('RPUSH', P .. 'withdrawals', cjson.encode({ u, c.id, offer, reason, note or '' }))
  -- the case remembers whose offers it took back (the last VOID_KEPT):
  -- a reply under one is STALE, under another unit's offer NOT_PERMITTED
  marks_add(P, c, 'void_offers', u .. ':' .. offer, VOID_KEPT)
end

-- Every state, as proto/gridcall.proto's CaseState names them (a test
-- checks the two agree).
local STATES = { 'REPORTED', 'REGISTERED', 'DISPATCHED', 'ACCEPTED', 'RESOLVED', 'VERIFIED',
                 'CLOSED', 'REJECTED', 'DUPLICATE', 'REOPENED', 'ESCALATED', 'ORDERED',
                 'PARKED', 'MERGED' }

-- Where a case is indexed by state: idx:open holds every case in an OPEN
-- state, idx:state:<S> the cases in each other state (all by created). A
-- move between two open states, most of a lifecycle, writes no index.
-- CLOSED, where nearly every case ends, has none (nil): a case of
-- idx:created in no other state's index is closed (closed_count), which
-- saves a sorted-set entry, about 120 bytes, per case for good.
local function state_index(s)
  if s == 'CLOSED' then return nil end
  return OPEN[s] and 'idx:open' or ('idx:state:' .. s)
end

-- The open figures: stats:open counts the open cases by the field
-- "<state>|<tier>|<grid>|<category>" (one field per combination in use:
-- thousands at most, however many cases are open), moved by save when a
-- case's field changes: one HINCRBY when it opens or closes, two when it
-- moves. The screen reads one hash.
local function open_field(c)
  if not OPEN[c.state] then return nil end
  return c.state .. '|' .. (tonumber(c.tier) or 0) .. '|' .. (c.grid or '') .. '|'
         .. (c.category or '')
end

-- Open cases counted by state, tier (its name), grid and category, from
-- stats:open (the open cases of a range of created times are counted a
-- page at a time: 60_report.lua's report_range_open).
local function open_counts(P)
  local t = { state = {}, tier = {}, grid = {}, category = {} }
  local function inc(m, k, n) if k and n ~= 0 then m[k] = (m[k] or 0) + n end end
  local flat = redis.call('HGETALL', P .. 'stats:open')
  for i = 1, #flat, 2 do
    local n = tonumber(flat[i + 1]) or 0
    local s, tier, g, cat = string.match(flat[i], '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    if s and n > 0 then
      inc(t.state, s, n); inc(t.tier, TIERS[tonumber(tier)], n); inc(t.grid, g, n)
      inc(t.category, cat, n)
    end
  end
  return t
end

-- The states a case ends its lifecycle in, or waits in, but CLOSED: each
-- has an index of its own (state_index).
local SETTLED = {}
for i = 1, #STATES do   -- (ipairs is not reachable while the library loads)
  local s = STATES[i]
  if not OPEN[s] and s ~= 'CLOSED' then SETTLED[#SETTLED + 1] = s end
end

-- Closed cases created in [lo, hi] (ZCOUNT bounds; every case when
-- absent): the cases of idx:created less those of every other state's
-- index (a store from before kept idx:state:CLOSED too: it is not read).
local function closed_count(P, lo, hi)
  lo, hi = lo or '-inf', hi or '+inf'
  local n = redis.call('ZCOUNT', P .. 'idx:created', lo, hi) - redis.call('ZCOUNT', P .. 'idx:open', lo, hi)
  for _, s in ipairs(SETTLED) do n = n - redis.call('ZCOUNT', P .. 'idx:state:' .. s, lo, hi) end
  return n
end

-- The closed cases of category code: its index's size less its open
-- cases (open: an open_counts result, counted without a read per case)
-- and its cases in each other state's index (intersections that cost
-- what the smaller index holds: those states' are small).
local function closed_in_category(P, code, open)
  local idx = P .. 'idx:category:' .. code
  local n = redis.call('ZCARD', idx) - (open.category[code] or 0)
  for _, s in ipairs(SETTLED) do n = n - redis.call('ZINTERCARD', 2, P .. 'idx:state:' .. s, idx) end
  return n
end

-- Cases per state: the size of each closed-state index, and the open
-- states counted from idx:open (open: an open_counts result, or nil;
-- closed: a closed_count result, or nil).
local function state_counts(P, open, closed)
  open = open or open_counts(P)
  local t = {}
  for _, s in ipairs(STATES) do
    local n = OPEN[s] and (open.state[s] or 0)
              or (s == 'CLOSED' and (closed or closed_count(P))
                  or redis.call('ZCARD', P .. 'idx:state:' .. s))
    if n > 0 then t[s] = n end
  end
  return t
end

-- Cases reported per category: idx:category:<code> holds them all.
local function category_counts(P)
  local t = {}
  for _, code in ipairs(redis.call('SMEMBERS', P .. 'dir:cats')) do
    local n = redis.call('ZCARD', P .. 'idx:category:' .. code)
    if n > 0 then t[code] = n end
  end
  return t
end

-- The case lifecycle (docs/escalation.md, DESIGN.md §2): the states a
-- case may move to from each state ('' is a new case). RESOLVED moves to
-- CLOSED through VERIFIED in one step (verify). A move outside this table
-- is a bug in a transition: it stops the call with an error.
local LIFECYCLE = {
  [''] = { REGISTERED = true, ORDERED = true, DISPATCHED = true },  -- registered and offered in one step
  ORDERED = { REGISTERED = true, REJECTED = true, MERGED = true },
  REGISTERED = { DISPATCHED = true, ESCALATED = true, PARKED = true, MERGED = true },
  DISPATCHED = { ACCEPTED = true, ESCALATED = true, PARKED = true, MERGED = true },
  ACCEPTED = { RESOLVED = true, ESCALATED = true, PARKED = true, MERGED = true },
  RESOLVED = { CLOSED = true, REOPENED = true },
  REOPENED = { DISPATCHED = true, ESCALATED = true, PARKED = true, MERGED = true },
  ESCALATED = { DISPATCHED = true, PARKED = true, MERGED = true },
  PARKED = { REOPENED = true, MERGED = true },
}

-- True unless case c is known never to have passed a deadline: only a
-- climb (climbs) and a repeat at the top tier (overdue_notices) put a
-- case in idx:late and idx:overdue, and both count up for good. A case
-- loaded without those fields may have.
local function ever_late(c)
  local known = c._known
  if known ~= true and not (known and known.climbs and known.overdue_notices) then return true end
  return (tonumber(c.climbs) or 0) > 0 or (tonumber(c.overdue_notices) or 0) > 0
end

-- Move the case from its old state to its new one: its state index when
-- it opens, closes or moves between closed states (state_index).
local function move_state(P, c, new)
  local old = c.state
  if old == new then return end
  if not (LIFECYCLE[old or ''] or {})[new] then
    error('gridcall: case ' .. tostring(c.id) .. ' cannot move from ' .. tostring(old) .. ' to ' .. new)
  end
  local from, to = old and state_index(old), state_index(new)
  if from ~= to then
    if from then redis.call('ZREM', P .. from, c.id) end
    if to then redis.call('ZADD', P .. to, I(c.created), c.id) end
  end
  if old and OPEN[old] and not OPEN[new] and ever_late(c) then
    redis.call('ZREM', P .. 'idx:late', c.id)
  end
  c.state = new
end

local function total(P, what, d)
  redis.call('HINCRBY', P .. 'stats:total', what, d and I(d) or '1')
end

-- The running totals: stats:total, and the three an index or a sequence
-- already holds (counting them again would cost a write per case).
-- closed: a closed_count result, or nil.
local function totals(P, closed)
  local t = hgetall(P .. 'stats:total') or {}
  t.reported = I(redis.call('ZCARD', P .. 'idx:created'))
  t.closed = I(closed or closed_count(P))
  t.offers = I(tonumber(redis.call('GET', P .. 'seq:offer')) or 0)
  return t
end

-- Queue a notification of the entry this call logged last (every caller
-- logs first): its id goes to jobs and to jobs_of(c). The hot paths pass
-- the job to log_event instead, which saves rewriting the entry here.
local function notify(P, c, event, audience, note, jobs)
  local ev = c._ev
  if not ev or ev[10] == 1 or (ev[10] and ev[10].job) then
    -- nothing logged yet, or the entry already carries a job (one job an
    -- entry: its id is the entry's): a notice entry of its own
    log_event(P, c, 'notified', '', note, nil, { event, audience })
  else
    local extra = ev[10] or {}
    extra.job = { event, audience }
    -- (the entry's note as told, not as packed)
    local told = c._ev_note or ev[8]
    if (note or '') ~= told then extra.job[3] = note or '' end
    ev[10] = extra
    if c._tl_list then
      redis.call('LSET', tl_list(P, c.id), I(c._evn - 1), cjson.encode(ev))
    else
      redis.call('HSET', tl_key(P, c.id), tl_field(c._evn), cjson.encode(ev))
    end
    queue_job(P, c, c._evn, extra.job, told)
  end
  local ids = c._jobs
  if jobs and jobs ~= ids then table.insert(jobs, ids[#ids]) end
end

-- Mark fields of c to be written by the next save (helpers that change
-- a case, like start_clock, leave the one write to their caller).
local function touch(c, ...)
  c._dirty = c._dirty or {}
  for _, f in ipairs({ ... }) do c._dirty[f] = true end
end

-- Add field f of c to save's HSET arguments (n of them so far) when it
-- changed since loaded (a smaller AOF): an empty value for a field known
-- to be absent is no change either, and a field named twice is written
-- once (was holds what is written). Returns the new count.
local function save_put(c, was, args, n, f)
  local v, w = c[f], was[f]
  if v == nil then v = '' else v = I(v) end
  if w == v then return n end
  local known = c._known
  if w == nil and v == '' and (known == true or (known and known[f])) then return n end
  args[n + 1] = f; args[n + 2] = v
  was[f] = v
  return n + 2
end

-- Write the case: version + 1, its state, fields and the touched fields,
-- in one HSET.
local function save(P, c, fields)
  c.version = tonumber(c.version) + 1
  local args, n = { 'version', I(c.version), 'state', c.state }, 4
  local was = c._was or {}
  for _, f in ipairs(fields) do n = save_put(c, was, args, n, f) end
  for f in pairs(c._dirty or {}) do n = save_put(c, was, args, n, f) end
  c._dirty = nil
  redis.call('HSET', P .. 'case:' .. c.id, unpack(args))
  local open = open_field(c)
  if open ~= c._open then
    if c._open then redis.call('HINCRBY', P .. 'stats:open', c._open, '-1') end
    if open then redis.call('HINCRBY', P .. 'stats:open', open, '1') end
    -- idx:near:<grid>:<category>, the open cases a new report may repeat
    -- (register's possible duplicates), by created: written only when
    -- the case opens or closes
    if (c._open == nil) ~= (open == nil) then
      local near = P .. 'idx:near:' .. (c.grid or '') .. ':' .. (c.category or '')
      if open then
        local created = c.created or redis.call('HGET', P .. 'case:' .. c.id, 'created')
        redis.call('ZADD', near, I(tonumber(created) or c._now), c.id)
      else
        redis.call('ZREM', near, c.id)
      end
    end
    c._open = open
  end
end

-- Load case id: every field, or only the fields listed (a hot transition
-- reads what it uses; a field it does not load reads as nil). c._was keeps
-- the loaded values so save writes only what changed.
local function load_case(P, id, fields)
  local c, was = {}, {}
  if fields then
    local h = redis.call('HMGET', P .. 'case:' .. id, unpack(fields))
    if not h[1] then return nil end         -- fields[1] is always 'state'
    c._known = {}
    for i, f in ipairs(fields) do
      local v = h[i]
      if v then c[f] = v; was[f] = v end
      c._known[f] = true
    end
  else
    local flat = redis.call('HGETALL', P .. 'case:' .. id)
    if #flat == 0 then return nil end
    for i = 1, #flat, 2 do c[flat[i]] = flat[i + 1]; was[flat[i]] = flat[i + 1] end
    c._known = true
  end
  c.id = id
  c.ledger = c.ledger or id
  c._was = was
  -- the deadline the timeline last wrote (save moves _was on)
  c._deadline0 = tonumber(was.resolve_by)
  c._now = now_ms()
  c._open = open_field(c)
  return c
end

local function case_reply(c, extra)
  local t = extra or {}
  t.case_id = c.id; t.state = c.state; t.tier = tonumber(c.tier)
  t.grid = c.grid; t.category = c.category
  t.version = tonumber(c.version); t.resolve_by = tonumber(c.resolve_by) or 0
  if t.jobs == nil or (type(t.jobs) == 'table' and #t.jobs == 0) then t.jobs = jobs_of(c) end
  if t.jobs and c._job_info then t.job_info = c._job_info; t.job_cases = job_cases_of(c._job_case) end
  return t
end

