
-- The front doors (intake's HTTP JSON API and Open311): a per-key rate
-- limit, photos on a case, and the public view of cases a door shows its
-- reporters. Writes of reports themselves go through register and the
-- other transitions, like the ZeroMQ door's.

local DOORS_MEDIA_MAX = 10          -- photos one case keeps
local DOORS_SCAN_MAX = 5000         -- index entries one list call may look at
local DOORS_PAGE_MAX = 1000         -- rows one list call may return (Open311's cap)
local DOORS_FIELDS = { 'state', 'grid', 'community', 'category', 'building', 'text',
                       'created', 'resolve_by', 'resolved', 'closed', 'unit', 'via',
                       'location', 'media', 'merged_into', 'lat', 'lon', 'channel' }

-- rate_take(P, id, limit, window_ms[, want]): up to want (1) requests of
-- the caller named id (an API key's hash) in a fixed window of window_ms:
-- granted is how many it may make (a door takes a few at once and spends
-- them itself, so a busy key costs one call per few requests), slot the
-- window they belong to. allowed false with retry_after_ms when the window
-- has none left.
local function doors_rate_take(keys, a)
  local P, id = a[1], a[2]
  local limit, window, want = tonumber(a[3]), tonumber(a[4]), tonumber(a[5] or '1')
  if not limit or not window or not want or window < 1 or limit < 1 or want < 1 then
    return fail('BAD_VALUE', 'limit, window_ms and want must be positive numbers')
  end
  local now = now_ms()
  local slot = math.floor(now / window)
  local key = P .. 'rate:' .. id .. ':' .. I(slot)
  local used = tonumber(redis.call('GET', key) or '0')
  local granted = math.min(want, limit - used)
  if granted < 1 then
    return ok({ allowed = false, retry_after_ms = math.floor((slot + 1) * window - now) })
  end
  redis.call('INCRBY', key, granted)
  if used == 0 then redis.call('PEXPIRE', key, I(window + 1000)) end
  return ok({ allowed = true, granted = granted, slot = slot,
              window_left_ms = math.floor((slot + 1) * window - now) })
end

-- case_media(P, id, who, url...): photos of the place, added to the case by
-- the principal that reported it (who = its via); the timeline tells it.
-- A url already on the case is not added again.
local function doors_case_media(keys, a)
  local P, id, who = a[1], a[2], a[3]
  local c = load_case(P, id, { 'state', 'tier', 'unit', 'resolve_by', 'version', 'grid', 'via',
                               'media' })
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. id) end
  if (c.via or '') ~= who then
    return fail('NOT_PERMITTED', 'case ' .. id .. ' was not reported by ' .. who)
  end
  local media = {}
  if c.media and c.media ~= '' then media = cjson.decode(c.media) end
  local have, added = {}, {}
  for _, u in ipairs(media) do have[u] = true end
  for i = 4, #a do
    if not have[a[i]] then
      if #media >= DOORS_MEDIA_MAX then
        return fail('TOO_LARGE', 'case ' .. id .. ' holds ' .. DOORS_MEDIA_MAX .. ' photos already')
      end
      table.insert(media, a[i]); table.insert(added, a[i]); have[a[i]] = true
    end
  end
  if #added == 0 then return ok({ case_id = id, state = c.state, media = media, duplicate = true }) end
  c.media = cjson.encode(media)
  save(P, c, { 'media' })
  log_begin(c)
  for _, u in ipairs(added) do log_event(P, c, 'media', who, u) end
  log_flush(P, c)
  return ok({ case_id = id, state = c.state, media = media, duplicate = false })
end

-- A case as a door shows it, or nil: its public fields, its photos, when
-- it last changed and what its last timeline entry said.
local function doors_row(P, id)
  local h = redis.call('HMGET', P .. 'case:' .. id, unpack(DOORS_FIELDS))
  if not h[1] then return nil end
  local r = { id = id }
  for i, f in ipairs(DOORS_FIELDS) do r[f] = h[i] or '' end
  for _, f in ipairs({ 'created', 'resolve_by', 'resolved', 'closed' }) do
    r[f] = tonumber(r[f]) or 0
  end
  r.media = r.media ~= '' and cjson.decode(r.media) or {}
  if r.unit ~= '' then r.responsible = dir_responsible(P, r.unit) end
  local last = tl_get(P, id, -1, -1)[1]
  local ev = last and event_decode(last, nil, r.created, r.channel)
  r.updated = ev and tonumber(ev.at) or r.created
  r.last_what = ev and ev.what or ''
  r.last_note = ev and ev.note or ''
  r.open = OPEN[r.state] == true
  return r
end

-- cases(P, filters_json): the cases a door lists, newest first. Filters:
-- token (the case an idempotency key of via registered), ids (array: these cases, in that order, the unknown ones left out), or
-- category, from, to (created ms, to exclusive), open (true: open states
-- only, false: the others), via (only cases this principal reported),
-- limit. Looks at DOORS_SCAN_MAX index entries at most.
local function doors_cases(keys, a)
  local P = a[1]
  local okd, f = pcall(cjson.decode, a[2] or '{}')
  if not okd or type(f) ~= 'table' then return fail('BAD_VALUE', 'filters are not a JSON object') end
  local via = type(f.via) == 'string' and f.via ~= '' and f.via or nil
  local items = {}
  if type(f.token) == 'string' then
    -- an Open311 token: the idempotency key of a report of this principal
    local seen = redis.call('GET', P .. 'idem:' .. (via or '') .. ':' .. f.token)
    local id = seen and string.match(seen, '^(%S+)')
    local r = id and doors_row(P, id)
    if r then table.insert(items, r) end
    return ok({ items = items, now = now_ms() })
  end
  if type(f.ids) == 'table' then
    for i, id in ipairs(f.ids) do
      if i > DOORS_PAGE_MAX then break end
      local r = type(id) == 'string' and doors_row(P, id)
      if r and (not via or r.via == via) then table.insert(items, r) end
    end
    return ok({ items = items, now = now_ms() })
  end
  local limit = math.min(math.max(tonumber(f.limit) or DOORS_PAGE_MAX, 1), DOORS_PAGE_MAX)
  local lo = tonumber(f.from) and tostring(tonumber(f.from)) or '-inf'
  local hi = tonumber(f.to) and ('(' .. tostring(tonumber(f.to))) or '+inf'
  local key = (type(f.category) == 'string' and f.category ~= '')
              and ('idx:category:' .. f.category) or 'idx:created'
  local scanned, pos = 0, 0
  while #items < limit and scanned < DOORS_SCAN_MAX do
    local want = math.min(DOORS_SCAN_MAX - scanned, 500)
    local ids = redis.call('ZREVRANGEBYSCORE', P .. key, hi, lo, 'LIMIT', pos, want)
    for _, id in ipairs(ids) do
      scanned = scanned + 1
      local r = doors_row(P, id)
      if r and (not via or r.via == via) and (f.open == nil or r.open == f.open) then
        table.insert(items, r)
        if #items >= limit then break end
      end
    end
    pos = pos + #ids
    if #ids < want then break end
  end
  return ok({ items = items, scanned = scanned, now = now_ms() })
end

redis.register_function{ function_name = 'gc_rate_take', callback = doors_rate_take }
redis.register_function{ function_name = 'gc_case_media', callback = doors_case_media }
redis.register_function{ function_name = 'gc_door_cases', callback = doors_cases, flags = { 'no-writes' } }
