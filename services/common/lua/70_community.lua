-- The community's three lists (需求清单, 资源清单, 项目清单), service hours,
-- venue bookings and unit ratings (docs/community.md). Two entry points:
-- gc_community (verb, who, area, fields...) for intake's requests, and
-- gc_community_read (view, args...) for report and the CLI. The verbs'
-- handlers live in the tables CW (writes) and CR (reads) rather than as
-- locals of their own: the library is one Lua chunk, whose locals are few.
--
-- who is the sender's principal label (the timeline's and audit's who);
-- area says where it may act: '*' (admin, street operator), 'community:C01'
-- (a community's operator), 'grids:G01,G02' (a grid worker), 'unit:U001',
-- 'gateway:NAME' (intake computes it from the principal, auth.c). The
-- role is checked in C (auth_may); the area, which needs the directory,
-- here.

local CW, CR = { verbs = {} }, { views = {} }

-- gc_community(P, verb, who, area, fields...): one request of intake.
local function community_write(keys, a)
  local h = CW.verbs[a[2] or '']
  if not h then return fail('UNKNOWN_TYPE', 'no community request "' .. tostring(a[2]) .. '"') end
  local P, who, area = a[1], a[3], a[4]
  local args = {}
  for i = 5, #a do args[#args + 1] = a[i] end
  return h(P, who, area, args, now_ms())
end

CW.LIST_MAX = 500                   -- rows one list or ledger read returns
CW.SCAN_MAX = 5000                  -- cases one cluster detection looks at in all
CW.BOOKING_MAX_MS = 7 * 86400000    -- longest venue booking
CW.IDEM_TTL = '7776000'             -- a request key is remembered 90 days

-- True when area may act in grid g (and so in g's community); else false
-- and the reason.
function CW.area_grid(P, area, g)
  if area == '*' then return true end
  local kind, rest = string.match(area, '^(%a[%a-]*):(.*)$')
  if kind == 'community' then
    local c = redis.call('HGET', P .. 'dir:grid:' .. g, 'community')
    if c == rest then return true end
    return false, 'grid ' .. g .. ' is in community ' .. (c or '?') .. ', outside ' .. rest
  end
  if kind == 'grids' and string.find(',' .. rest .. ',', ',' .. g .. ',', 1, true) then return true end
  return false, 'grid ' .. g .. ' is outside the sender\'s area (' .. area .. ')'
end

-- The id a keyed request made, when its key was used before by who.
function CW.seen(P, who, verb, key)
  return redis.call('GET', P .. 'cidem:' .. who .. ':' .. verb .. ':' .. key)
end
function CW.remember(P, who, verb, key, id)
  redis.call('SET', P .. 'cidem:' .. who .. ':' .. verb .. ':' .. key, id, 'EX', CW.IDEM_TTL)
end

-- Move need n (created at t) from status from ('' when new) to to: the
-- counts per status (needs:count) and the open index (needs:open) follow,
-- so the lists and the matching view never walk every need.
function CW.need_move(P, n, from, to, t)
  if from ~= '' then redis.call('HINCRBY', P .. 'needs:count', from, -1) end
  redis.call('HINCRBY', P .. 'needs:count', to, 1)
  if to == 'open' then redis.call('ZADD', P .. 'needs:open', I(t), n)
  elseif from == 'open' then redis.call('ZREM', P .. 'needs:open', n) end
end

-- A new need: id N000001, indexed by time, grid and status; key (the
-- cluster or survey question it stands for) finds it again while open.
function CW.need_new(P, now, f, who)
  local id = string.format('N%06d', redis.call('INCR', P .. 'seq:need'))
  local community = redis.call('HGET', P .. 'dir:grid:' .. f.grid, 'community') or ''
  redis.call('HSET', P .. 'need:' .. id, 'grid', f.grid, 'community', community,
             'category', f.category, 'text', f.text, 'source', f.source, 'status', 'open',
             'project', '', 'created', I(now), 'by', who, 'person', f.person or '',
             'residents', I(f.residents or 0), 'evidence', I(f.evidence or 1))
  redis.call('ZADD', P .. 'needs', I(now), id)
  CW.need_move(P, id, '', 'open', now)
  if f.key then redis.call('HSET', P .. 'needkey', f.key, id) end
  return id
end

-- need.record(key, grid, category, text, source, person, residents): a
-- need found on a visit.
function CW.need_record(P, who, area, f, now)
  local key, grid, category = f[1], f[2], f[3]
  local seen = CW.seen(P, who, 'need', key)
  if seen then return ok({ id = seen, status = redis.call('HGET', P .. 'need:' .. seen, 'status'),
                           duplicate = true, note = 'already recorded' }) end
  if not redis.call('HGET', P .. 'dir:grid:' .. grid, 'community') then
    return fail('UNKNOWN_GRID', 'grid "' .. grid .. '" is not in the directory')
  end
  if not redis.call('HGET', P .. 'dir:cat:' .. category, 'name') then
    return fail('UNKNOWN_CATEGORY', 'category "' .. category .. '" is not in the directory')
  end
  local allowed, why = CW.area_grid(P, area, grid)
  if not allowed then return fail('NOT_PERMITTED', why) end
  if f[5] ~= 'VISIT' then
    return fail('BAD_VALUE', 'need.record takes visits; survey answers and report clusters record their own needs')
  end
  if f[6] ~= '' and not redis.call('HGET', P .. 'dir:person:' .. f[6], 'name') then
    return fail('BAD_VALUE', 'no person "' .. f[6] .. '" in the directory')
  end
  local id = CW.need_new(P, now, { grid = grid, category = category, text = f[4], source = 'visit',
                                   person = f[6], residents = tonumber(f[7]) or 0 }, who)
  CW.remember(P, who, 'need', key, id)
  return ok({ id = id, status = 'open', note = 'need ' .. id .. ' recorded from a visit in ' .. grid })
end

-- needs.detect(grid, window_days, min_reports): clusters of reports of one
-- category in one grid within the window become needs (source reports);
-- a cluster already standing as an open or covered need adds its new cases.
function CW.needs_detect(P, who, area, f, now)
  local days, least = tonumber(f[2]), tonumber(f[3])
  if not days or days < 1 or days > 366 then return fail('BAD_VALUE', 'window_days must be 1..366') end
  if not least or least < 2 or least > 1000 then return fail('BAD_VALUE', 'min_reports must be 2..1000') end
  local grids = {}
  if f[1] ~= '' then
    if not redis.call('HGET', P .. 'dir:grid:' .. f[1], 'community') then
      return fail('UNKNOWN_GRID', 'grid "' .. f[1] .. '" is not in the directory')
    end
    local allowed, why = CW.area_grid(P, area, f[1])
    if not allowed then return fail('NOT_PERMITTED', why) end
    grids[1] = f[1]
  else
    for _, g in ipairs(redis.call('SMEMBERS', P .. 'dir:grids')) do
      if CW.area_grid(P, area, g) then grids[#grids + 1] = g end
    end
    table.sort(grids)
  end
  -- one call looks at SCAN_MAX cases in all: a street-wide run over a
  -- busy month says where it stopped, and a grid at a time finishes it
  local made, grown, budget, stopped = {}, 0, CW.SCAN_MAX, nil
  for _, g in ipairs(grids) do
    if budget <= 0 then stopped = stopped or g; break end
    local by_cat = {}
    local ids = redis.call('ZRANGEBYSCORE', P .. 'idx:grid:' .. g, I(now - days * 86400000), '+inf',
                           'LIMIT', 0, budget)
    budget = budget - #ids
    for _, id in ipairs(ids) do
      local cat = redis.call('HGET', P .. 'case:' .. id, 'category')
      if cat then
        by_cat[cat] = by_cat[cat] or {}
        table.insert(by_cat[cat], id)
      end
    end
    local cats = {}
    for cat in pairs(by_cat) do cats[#cats + 1] = cat end
    table.sort(cats)
    for _, cat in ipairs(cats) do
      local cases = by_cat[cat]
      if #cases >= least then
        local key = 'reports:' .. g .. ':' .. cat
        local id = redis.call('HGET', P .. 'needkey', key)
        if id and redis.call('HGET', P .. 'need:' .. id, 'status') == 'met' then id = nil end
        if not id then
          local name = redis.call('HGET', P .. 'dir:cat:' .. cat, 'name') or cat
          id = CW.need_new(P, now, { grid = g, category = cat, source = 'reports', key = key,
                                     text = string.format('%d reports of %s in %s within %d days',
                                                          #cases, name, g, days),
                                     evidence = 0 }, who)
          table.insert(made, id)
        end
        local added = redis.call('SADD', P .. 'need:' .. id .. ':cases', unpack(cases))
        if added > 0 then
          redis.call('HINCRBY', P .. 'need:' .. id, 'evidence', added)
          grown = grown + 1
        end
      end
    end
  end
  return ok({ id = table.concat(made, ','), status = #made > 0 and 'open' or 'unchanged',
              note = string.format('%d new needs from report clusters, %d needs with new reports, %d grids looked at',
                                   #made, grown, #grids) .. (stopped and ('; stopped before grid ' .. stopped ..
                                   ' after ' .. CW.SCAN_MAX .. ' cases: detect grid by grid') or '') })
end

-- survey.create(id, title, community, questions_json)
function CW.survey_create(P, who, area, f, now)
  local id, community = f[1], f[3]
  local qs = cjson.decode(f[4])
  if redis.call('EXISTS', P .. 'survey:' .. id) == 1 then
    if redis.call('HGET', P .. 'survey:' .. id, 'questions') == f[4] then
      return ok({ id = id, status = 'open', duplicate = true, note = 'already created' })
    end
    return fail('CONFLICT', 'survey ' .. id .. ' exists with other questions')
  end
  if community ~= '' then
    local known = false
    for _, g in ipairs(redis.call('SMEMBERS', P .. 'dir:grids')) do
      known = known or redis.call('HGET', P .. 'dir:grid:' .. g, 'community') == community
    end
    if not known then return fail('BAD_VALUE', 'no community "' .. community .. '" in the directory') end
    if area ~= '*' and area ~= 'community:' .. community then
      return fail('NOT_PERMITTED', 'community ' .. community .. ' is outside the sender\'s area (' .. area .. ')')
    end
  elseif area ~= '*' then
    return fail('NOT_PERMITTED', 'a street-wide survey is the street\'s: ' .. area .. ' may survey its own community')
  end
  local seen = {}
  for i, q in ipairs(qs) do
    if seen[q.id] then return fail('BAD_VALUE', 'questions[' .. (i - 1) .. ']: id "' .. q.id .. '" repeats') end
    seen[q.id] = true
    if not redis.call('HGET', P .. 'dir:cat:' .. q.category, 'name') then
      return fail('UNKNOWN_CATEGORY', 'questions[' .. (i - 1) .. '].category "' .. q.category .. '" is not in the directory')
    end
  end
  redis.call('HSET', P .. 'survey:' .. id, 'title', f[2], 'community', community, 'questions', f[4],
             'created', I(now), 'by', who, 'sheets', 0)
  redis.call('ZADD', P .. 'surveys', I(now), id)
  audit(P, who, '', 'survey.create', id, f[2])
  return ok({ id = id, status = 'open', note = #qs .. ' questions' })
end

-- survey.answer(key, survey, grid, respondent, answers_json): results per
-- grid, and each yes a need of its question's category in that grid (one
-- need per survey, grid and question, counting its yes answers).
function CW.survey_answer(P, who, area, f, now)
  local key, sid, grid = f[1], f[2], f[3]
  local seen = CW.seen(P, who, 'answer', key)
  if seen then return ok({ id = seen, status = 'answered', duplicate = true, note = 'already answered' }) end
  local s = redis.call('HMGET', P .. 'survey:' .. sid, 'questions', 'community')
  if not s[1] then return fail('BAD_VALUE', 'no survey "' .. sid .. '"') end
  local community = redis.call('HGET', P .. 'dir:grid:' .. grid, 'community')
  if not community then return fail('UNKNOWN_GRID', 'grid "' .. grid .. '" is not in the directory') end
  if s[2] ~= '' and s[2] ~= community then
    return fail('BAD_VALUE', 'survey ' .. sid .. ' is of community ' .. s[2] .. '; grid ' .. grid .. ' is not in it')
  end
  if not string.match(area, '^gateway:') then
    local allowed, why = CW.area_grid(P, area, grid)
    if not allowed then return fail('NOT_PERMITTED', why) end
  end
  local questions = {}
  for _, q in ipairs(cjson.decode(s[1])) do questions[q.id] = q end
  local answers = cjson.decode(f[5])
  for i, x in ipairs(answers) do
    if not questions[x.question] then
      return fail('BAD_VALUE', 'answers[' .. (i - 1) .. ']: survey ' .. sid .. ' has no question "' .. x.question .. '"')
    end
  end
  local res = P .. 'survey:' .. sid .. ':res:' .. grid
  local needs = {}
  for _, x in ipairs(answers) do
    redis.call('HINCRBY', res, x.question .. (x.yes and ':yes' or ':no'), 1)
    if x.yes then
      local q = questions[x.question]
      local nkey = 'survey:' .. sid .. ':' .. grid .. ':' .. x.question
      local id = redis.call('HGET', P .. 'needkey', nkey)
      if id and redis.call('HGET', P .. 'need:' .. id, 'status') == 'met' then id = nil end
      if id then
        redis.call('HINCRBY', P .. 'need:' .. id, 'evidence', 1)
      else
        id = CW.need_new(P, now, { grid = grid, category = q.category, source = 'survey',
                                   key = nkey, text = q.text .. ((x.text or '') ~= '' and (': ' .. x.text) or '') },
                         who)
      end
      needs[#needs + 1] = id
    end
  end
  redis.call('HINCRBY', res, 'sheets', 1)
  redis.call('SADD', P .. 'survey:' .. sid .. ':grids', grid)
  redis.call('HINCRBY', P .. 'survey:' .. sid, 'sheets', 1)
  CW.remember(P, who, 'answer', key, sid .. ':' .. key)
  return ok({ id = table.concat(needs, ','), status = 'answered',
              note = #answers .. ' answers, ' .. #needs .. ' needs' })
end

-- The person or unit a request names, checked against the directory and
-- the sender's area; returns kind ('person'|'unit'), id, or nil and an error.
function CW.actor(P, area, person, unit)
  if (person == '') == (unit == '') then
    return nil, fail('MISSING_FIELD', 'give exactly one of person and unit')
  end
  if unit ~= '' then
    if redis.call('SISMEMBER', P .. 'dir:units', unit) == 0 then
      return nil, fail('UNKNOWN_UNIT', 'no unit "' .. unit .. '" in the directory')
    end
    if area ~= '*' and area ~= 'unit:' .. unit and not string.match(area, '^community:') then
      return nil, fail('NOT_PERMITTED', 'the sender (' .. area .. ') may not act for unit ' .. unit)
    end
    return 'unit', unit
  end
  local g = redis.call('HMGET', P .. 'dir:person:' .. person, 'grid', 'community')
  if not g[1] then return nil, fail('BAD_VALUE', 'no person "' .. person .. '" in the directory') end
  if area ~= '*' then
    local kind, rest = string.match(area, '^(%a[%a-]*):(.*)$')
    local inside = (kind == 'community' and g[2] == rest)
                or (kind == 'grids' and g[1] ~= '' and string.find(',' .. rest .. ',', ',' .. g[1] .. ',', 1, true))
    if not inside then
      return nil, fail('NOT_PERMITTED', 'person ' .. person .. ' (grid ' .. (g[1] ~= '' and g[1] or '-') ..
                       ', community ' .. (g[2] ~= '' and g[2] or '-') .. ') is outside the sender\'s area (' .. area .. ')')
    end
  end
  return 'person', person
end

-- service.log(key, person, unit, minutes, day_ms, project, note)
function CW.service_log(P, who, area, f, now)
  local key = f[1]
  local seen = CW.seen(P, who, 'hours', key)
  if seen then return ok({ id = seen, status = 'logged', duplicate = true, note = 'already logged' }) end
  local kind, id = CW.actor(P, area, f[2], f[3])
  if not kind then return id end
  local minutes, day = tonumber(f[4]), tonumber(f[5])
  if not minutes or minutes < 1 or minutes > 1440 then return fail('BAD_VALUE', 'minutes must be 1..1440') end
  if day == 0 then day = now end
  if day > now + 86400000 then return fail('BAD_VALUE', 'day_ms is in the future') end
  if f[6] ~= '' and redis.call('EXISTS', P .. 'project:' .. f[6]) == 0 then
    return fail('BAD_VALUE', 'no project "' .. f[6] .. '"')
  end
  local q = quarter_of(P, day)
  local n = redis.call('INCR', P .. 'seq:service')
  local entry = cjson.encode({ n = n, at = day, kind = kind, id = id, minutes = minutes,
                               project = f[6], note = f[7], by = who, quarter = q })
  redis.call('ZADD', P .. 'servicelog', I(day), entry)
  local hk = P .. 'hours:' .. kind .. ':' .. id
  redis.call('HINCRBY', hk, 'minutes', minutes)
  redis.call('HINCRBY', hk, q, minutes)
  if kind == 'unit' then
    local sk = P .. 'score:unit:' .. id .. ':' .. q
    redis.call('HINCRBY', sk, 'services', 1)
    redis.call('HINCRBY', sk, 'minutes', minutes)
  end
  if f[6] ~= '' then redis.call('HINCRBY', P .. 'project:' .. f[6], 'minutes', minutes) end
  CW.remember(P, who, 'hours', key, 'S' .. n)
  return ok({ id = 'S' .. n, status = 'logged',
              note = string.format('%d minutes of %s %s in %s', minutes, kind, id, q) })
end

-- venue.book(key, venue, from_ms, to_ms, people, purpose, project): no two
-- bookings of a venue overlap.
function CW.venue_book(P, who, area, f, now)
  local key, venue = f[1], f[2]
  local seen = CW.seen(P, who, 'venue', key)
  if seen then return ok({ id = seen, status = 'booked', duplicate = true, note = 'already booked' }) end
  local v = redis.call('HMGET', P .. 'dir:venue:' .. venue, 'name', 'capacity', 'community')
  if not v[1] then return fail('BAD_VALUE', 'no venue "' .. venue .. '" in the directory') end
  if area ~= '*' and v[3] ~= '' and area ~= 'community:' .. v[3] then
    return fail('NOT_PERMITTED', 'venue ' .. venue .. ' is in community ' .. v[3] .. ', outside ' .. area)
  end
  local from, to, people = tonumber(f[3]), tonumber(f[4]), tonumber(f[5]) or 0
  if not from or not to or to <= from then return fail('BAD_VALUE', 'to_ms must be after from_ms') end
  if to - from > CW.BOOKING_MAX_MS then return fail('BAD_VALUE', 'a booking lasts at most 7 days') end
  if people > tonumber(v[2]) then
    return fail('BAD_VALUE', string.format('%d people exceed %s\'s capacity of %s', people, v[1], v[2]))
  end
  local zk = P .. 'venue:' .. venue .. ':bookings'
  for _, text in ipairs(redis.call('ZRANGEBYSCORE', zk, I(from - CW.BOOKING_MAX_MS), '(' .. I(to))) do
    local b = cjson.decode(text)
    if b.to > from then
      return fail('WRONG_STATE', string.format('%s is booked from %d to %d for "%s" (%s)', v[1], b.from, b.to,
                                               b.purpose, b.id))
    end
  end
  local id = 'B' .. redis.call('INCR', P .. 'seq:booking')
  redis.call('ZADD', zk, I(from), cjson.encode({ id = id, from = from, to = to, people = people,
                                                  purpose = f[6], project = f[7], by = who }))
  redis.call('HINCRBY', P .. 'dir:venue_use', venue, 1)
  CW.remember(P, who, 'venue', key, id)
  return ok({ id = id, status = 'booked', note = v[1] .. ' booked' })
end

-- Split a framed or comma list into a table.
function CW.list(text)
  local out = {}
  for w in string.gmatch(text or '', '[^%s,]+') do out[#out + 1] = w end
  return out
end

-- project.design(id, name, goal, needs, units, skills, volunteers, start, end, unit_slots)
function CW.project_design(P, who, area, f, now)
  local id = f[1]
  local needs, units, skills = CW.list(f[4]), CW.list(f[5]), CW.list(f[6])
  local cap, slots = tonumber(f[7]) or 0, tonumber(f[10]) or 0
  if redis.call('EXISTS', P .. 'project:' .. id) == 1 then
    if redis.call('HGET', P .. 'project:' .. id, 'needs') == ' ' .. table.concat(needs, ' ') .. ' ' then
      return ok({ id = id, status = redis.call('HGET', P .. 'project:' .. id, 'status'), duplicate = true,
                  note = 'already designed' })
    end
    return fail('CONFLICT', 'project ' .. id .. ' exists')
  end
  if #needs == 0 then return fail('MISSING_FIELD', 'a project covers at least one need') end
  if cap < 1 or cap > 1000 then return fail('BAD_VALUE', 'volunteers must be 1..1000') end
  if tonumber(f[9]) ~= 0 and tonumber(f[9]) <= tonumber(f[8]) then
    return fail('BAD_VALUE', 'end_ms must be after start_ms')
  end
  local community
  for _, n in ipairs(needs) do
    local h = redis.call('HMGET', P .. 'need:' .. n, 'status', 'project', 'grid', 'community')
    if not h[1] then return fail('BAD_VALUE', 'no need "' .. n .. '"') end
    if h[1] ~= 'open' then
      return fail('WRONG_STATE', 'need ' .. n .. ' is ' .. h[1] .. (h[2] ~= '' and (' by project ' .. h[2]) or ''))
    end
    local allowed, why = CW.area_grid(P, area, h[3])
    if not allowed then return fail('NOT_PERMITTED', why) end
    community = community or h[4]
  end
  for _, u in ipairs(units) do
    if redis.call('SISMEMBER', P .. 'dir:units', u) == 0 then
      return fail('UNKNOWN_UNIT', 'no unit "' .. u .. '" in the directory')
    end
  end
  if slots == 0 then slots = math.max(#units, 1) end
  redis.call('HSET', P .. 'project:' .. id, 'name', f[2], 'goal', f[3], 'needs', ' ' .. table.concat(needs, ' ') .. ' ',
             'units', ' ' .. table.concat(units, ' ') .. ' ', 'skills', ' ' .. table.concat(skills, ' ') .. ' ',
             'volunteers', I(cap), 'unit_slots', I(slots), 'start', f[8], 'end', f[9], 'status', 'active',
             'community', community or '', 'created', I(now), 'by', who, 'refused_full', 0, 'minutes', 0)
  redis.call('ZADD', P .. 'projects', I(now), id)
  for _, n in ipairs(needs) do
    redis.call('HSET', P .. 'need:' .. n, 'status', 'covered', 'project', id)
    CW.need_move(P, n, 'open', 'covered', now)
  end
  audit(P, who, '', 'project.design', id, f[2] .. ': needs ' .. table.concat(needs, ','))
  return ok({ id = id, status = 'active', note = string.format('covers %d needs, %d volunteers wanted', #needs, cap) })
end

-- project.claim(project, person, unit, leave): join or leave within the
-- project's capacity; a person needs one of its skills.
function CW.project_claim(P, who, area, f, now)
  local pid = f[1]
  local pk = P .. 'project:' .. pid
  local p = redis.call('HMGET', pk, 'status', 'volunteers', 'unit_slots', 'skills', 'name')
  if not p[1] then return fail('BAD_VALUE', 'no project "' .. pid .. '"') end
  local kind, id = CW.actor(P, area, f[2], f[3])
  if not kind then return id end
  local set = pk .. (kind == 'unit' and ':units' or ':people')
  if f[4] == '1' then
    if redis.call('SREM', set, id) == 0 then
      return ok({ id = pid, status = p[1], duplicate = true, note = id .. ' was not in the project' })
    end
    redis.call('SREM', P .. 'claims:' .. kind .. ':' .. id, pid)
    return ok({ id = pid, status = p[1], note = id .. ' left ' .. p[5] })
  end
  if redis.call('SISMEMBER', set, id) == 1 then
    return ok({ id = pid, status = p[1], duplicate = true, note = id .. ' is already in the project' })
  end
  if p[1] ~= 'active' then return fail('WRONG_STATE', 'project ' .. pid .. ' is ' .. p[1]) end
  local cap = tonumber(kind == 'unit' and p[3] or p[2])
  local have = redis.call('SCARD', set)
  if kind == 'person' then
    local wanted = CW.list(p[4])
    if #wanted > 0 then
      local skills = redis.call('HGET', P .. 'dir:person:' .. id, 'skills') or ''
      local fits = false
      for _, s in ipairs(wanted) do fits = fits or string.find(skills, ' ' .. s .. ' ', 1, true) ~= nil end
      if not fits then
        return fail('NOT_PERMITTED', string.format('%s has none of the skills project %s wants (%s)', id, pid,
                                                   table.concat(wanted, ', ')))
      end
    end
  end
  if have >= cap then
    redis.call('HINCRBY', pk, 'refused_full', 1)
    return fail('WRONG_STATE', string.format('project %s is full: %d of %d %s places taken', pid, have, cap,
                                             kind == 'unit' and 'unit' or 'volunteer'))
  end
  redis.call('SADD', set, id)
  redis.call('SADD', P .. 'claims:' .. kind .. ':' .. id, pid)
  return ok({ id = pid, status = (have + 1 >= cap) and 'full' or 'active',
              note = string.format('%s joined %s: %d of %d places', id, p[5], have + 1, cap) })
end

-- project.status(project, status, reason): DONE meets its needs,
-- CANCELLED opens them again.
function CW.project_status(P, who, area, f, now)
  local pid, status = f[1], string.lower(f[2])
  local pk = P .. 'project:' .. pid
  local p = redis.call('HMGET', pk, 'status', 'needs', 'community')
  if not p[1] then return fail('BAD_VALUE', 'no project "' .. pid .. '"') end
  if area ~= '*' and area ~= 'community:' .. p[3] then
    return fail('NOT_PERMITTED', 'project ' .. pid .. ' is of community ' .. p[3] .. ', outside ' .. area)
  end
  if p[1] == status then return ok({ id = pid, status = status, duplicate = true, note = 'already ' .. status }) end
  if p[1] ~= 'active' then return fail('WRONG_STATE', 'project ' .. pid .. ' is ' .. p[1] .. ', not active') end
  if status ~= 'done' and status ~= 'cancelled' then
    return fail('BAD_VALUE', 'an active project becomes done or cancelled')
  end
  for _, n in ipairs(CW.list(p[2])) do
    if status == 'done' then redis.call('HSET', P .. 'need:' .. n, 'status', 'met', 'met', I(now))
    else redis.call('HSET', P .. 'need:' .. n, 'status', 'open', 'project', '') end
    CW.need_move(P, n, 'covered', status == 'done' and 'met' or 'open',
                 tonumber(redis.call('HGET', P .. 'need:' .. n, 'created')) or now)
  end
  redis.call('HSET', pk, 'status', status, 'closed', I(now), 'reason', f[3])
  audit(P, who, '', 'project.' .. status, pid, f[3])
  return ok({ id = pid, status = status, note = 'its needs are ' .. (status == 'done' and 'met' or 'open again') })
end

-- unit.rate(unit, quarter, score, comment): the community's quarterly
-- rating; a second rating of the same quarter replaces the first.
function CW.unit_rate(P, who, area, f, now)
  local u, q, score = f[1], f[2], tonumber(f[3])
  if redis.call('SISMEMBER', P .. 'dir:units', u) == 0 then
    return fail('UNKNOWN_UNIT', 'no unit "' .. u .. '" in the directory')
  end
  if not string.match(q, '^%d%d%d%dQ[1-4]$') then return fail('BAD_VALUE', 'quarter "' .. q .. '" is not like 2026Q3') end
  if q > quarter_of(P, now) then return fail('BAD_VALUE', 'quarter ' .. q .. ' has not begun') end
  if not score or score < 1 or score > 5 then return fail('BAD_VALUE', 'score must be 1..5') end
  local k = P .. 'score:unit:' .. u .. ':' .. q
  local before = redis.call('HGET', k, 'community_rating')
  redis.call('HSET', k, 'community_rating', I(score), 'rating_comment', f[4], 'rated_by', who)
  redis.call('SADD', P .. 'rated:' .. q, u)
  audit(P, who, '', 'unit.rate', u, q .. ' ' .. score .. '/5' .. (before and (' (was ' .. before .. ')') or '') ..
        (f[4] ~= '' and (': ' .. f[4]) or ''))
  return ok({ id = u, status = 'rated', duplicate = before == I(score), note = q .. ' ' .. score .. '/5' })
end

CW.verbs['need.record'] = CW.need_record
CW.verbs['needs.detect'] = CW.needs_detect
CW.verbs['survey.create'] = CW.survey_create
CW.verbs['survey.answer'] = CW.survey_answer
CW.verbs['service.log'] = CW.service_log
CW.verbs['venue.book'] = CW.venue_book
CW.verbs['project.design'] = CW.project_design
CW.verbs['project.claim'] = CW.project_claim
CW.verbs['project.status'] = CW.project_status
CW.verbs['unit.rate'] = CW.unit_rate

redis.register_function('gc_community', community_write)

-- gc_community_read(P, view, args...): the lists, views and scorecards as
-- JSON; a ledger view answers { columns = [...], rows = [[...]] } for CSV.
local function community_read(keys, a)
  local h = CR.views[a[2] or '']
  if not h then return fail('BAD_VALUE', 'no community view "' .. tostring(a[2]) .. '"') end
  local args = {}
  for i = 3, #a do args[#args + 1] = a[i] end
  return h(a[1], args, now_ms())
end

-- A need as the lists show it.
function CR.need(P, id)
  local n = hgetall(P .. 'need:' .. id)
  if not n then return nil end
  n.id = id
  n.evidence = tonumber(n.evidence) or 0
  n.residents = tonumber(n.residents) or 0
  n.created = tonumber(n.created) or 0
  n.category_name = redis.call('HGET', P .. 'dir:cat:' .. n.category, 'name') or n.category
  return n
end

-- A project with its claims and progress.
function CR.project(P, id)
  local p = hgetall(P .. 'project:' .. id)
  if not p then return nil end
  p.id = id
  p.needs, p.units, p.skills = CW.list(p.needs), CW.list(p.units), CW.list(p.skills)
  p.people = redis.call('SMEMBERS', P .. 'project:' .. id .. ':people')
  p.claimed_units = redis.call('SMEMBERS', P .. 'project:' .. id .. ':units')
  table.sort(p.people); table.sort(p.claimed_units)
  p.volunteers = tonumber(p.volunteers) or 0
  p.unit_slots = tonumber(p.unit_slots) or 0
  p.refused_full = tonumber(p.refused_full) or 0
  p.hours = (tonumber(p.minutes) or 0) / 60
  p.minutes = nil
  p.progress = p.volunteers > 0 and (#p.people / p.volunteers) or 0
  local met = 0
  for _, n in ipairs(p.needs) do
    if redis.call('HGET', P .. 'need:' .. n, 'status') == 'met' then met = met + 1 end
  end
  p.needs_met = met
  return p
end

-- lists(): the three lists with their progress.
function CR.lists(P, f, now)
  local needs, counts = {}, { open = 0, covered = 0, met = 0 }
  for k, v in pairs(hgetall(P .. 'needs:count') or {}) do counts[k] = tonumber(v) end
  for _, id in ipairs(redis.call('ZREVRANGE', P .. 'needs', 0, CW.LIST_MAX - 1)) do
    local n = CR.need(P, id)
    if n then
      needs[#needs + 1] = n
    end
  end
  local projects = {}
  for _, id in ipairs(redis.call('ZREVRANGE', P .. 'projects', 0, CW.LIST_MAX - 1)) do
    projects[#projects + 1] = CR.project(P, id)
  end
  return ok({ needs = needs, need_counts = counts, need_total = redis.call('ZCARD', P .. 'needs'),
              projects = projects, project_total = redis.call('ZCARD', P .. 'projects'),
              resources = CR.resource_summary(P, now) })
end

-- The resource list's figures: agreements, people by role, venues, teams.
function CR.resource_summary(P, now)
  local q = quarter_of(P, now)
  local promised, delivered = 0, 0
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'dir:agreements')) do
    local ag = redis.call('HMGET', P .. 'dir:agreement:' .. id, 'unit', 'per_quarter')
    promised = promised + (tonumber(ag[2]) or 0)
    local s = redis.call('HMGET', P .. 'score:unit:' .. ag[1] .. ':' .. q, 'cases', 'services')
    delivered = delivered + (tonumber(s[1]) or 0) + (tonumber(s[2]) or 0)
  end
  local teams = {}
  for _, t in ipairs(redis.call('SMEMBERS', P .. 'dir:teams')) do
    teams[#teams + 1] = CR.team_of(P, t)
  end
  table.sort(teams, function(x, y) return x.id < y.id end)
  return { agreements = redis.call('SCARD', P .. 'dir:agreements'), quarter = q,
           promised = promised, delivered = delivered,
           people = redis.call('SCARD', P .. 'dir:persons'), venues = redis.call('SCARD', P .. 'dir:venues'),
           teams = teams }
end

-- A standing team and how many residents it has served: the number the
-- directory starts it with, and every case of its category closed since.
function CR.team_of(P, id)
  local t = redis.call('HMGET', P .. 'dir:team:' .. id, 'name', 'lead', 'members', 'served')
  if not t[1] then return nil end
  local cases = redis.call('SCARD', P .. 'team:' .. id .. ':served')
  return { id = id, name = t[1], lead = t[2], members = CW.list(t[3]),
           served = (tonumber(t[4]) or 0) + cases, served_here = cases }
end

function CR.team(P, f, now)
  local t = CR.team_of(P, f[1] or '')
  if not t then return fail('BAD_VALUE', 'no team "' .. tostring(f[1]) .. '"') end
  return ok({ team = t })
end

-- matching(): needs with no project, resources left unused this quarter,
-- oversubscribed projects (扎堆: claims refused because they were full).
function CR.matching(P, f, now)
  local q = quarter_of(P, now)
  local uncovered, over = {}, {}
  for _, id in ipairs(redis.call('ZRANGE', P .. 'needs:open', 0, CW.LIST_MAX - 1)) do
    uncovered[#uncovered + 1] = CR.need(P, id)
  end
  for _, id in ipairs(redis.call('ZRANGE', P .. 'projects', 0, CW.LIST_MAX - 1)) do
    local p = CR.project(P, id)
    if p.status == 'active' and p.refused_full > 0 then over[#over + 1] = p end
  end
  local idle_people, idle_units, idle_venues = {}, {}, {}
  local persons = redis.call('SMEMBERS', P .. 'dir:persons')
  table.sort(persons)
  local idle_people_n = 0
  for _, id in ipairs(persons) do
    local roles = redis.call('HGET', P .. 'dir:person:' .. id, 'roles') or ''
    if (string.find(roles, ' volunteer ', 1, true) or string.find(roles, ' party_member ', 1, true))
    and redis.call('SCARD', P .. 'claims:person:' .. id) == 0
    and not redis.call('HGET', P .. 'hours:person:' .. id, q) then
      idle_people_n = idle_people_n + 1
      if #idle_people < 50 then idle_people[#idle_people + 1] = id end
    end
  end
  local agreements = redis.call('SMEMBERS', P .. 'dir:agreements')
  table.sort(agreements)
  for _, id in ipairs(agreements) do
    local u = redis.call('HGET', P .. 'dir:agreement:' .. id, 'unit')
    local s = redis.call('HMGET', P .. 'score:unit:' .. u .. ':' .. q, 'cases', 'services')
    if (tonumber(s[1]) or 0) + (tonumber(s[2]) or 0) == 0 and redis.call('SCARD', P .. 'claims:unit:' .. u) == 0 then
      idle_units[#idle_units + 1] = u
    end
  end
  local venues = redis.call('SMEMBERS', P .. 'dir:venues')
  table.sort(venues)
  for _, v in ipairs(venues) do
    if redis.call('ZCOUNT', P .. 'venue:' .. v .. ':bookings', I(now), '+inf') == 0 then
      idle_venues[#idle_venues + 1] = v
    end
  end
  return ok({ quarter = q, uncovered_needs = uncovered, oversubscribed = over,
              unused = { people = idle_people, people_total = idle_people_n, units = idle_units,
                         venues = idle_venues } })
end

-- A unit's scorecard for a quarter: its agreement's promise and what it
-- delivered (cases closed + services logged), on-time rate, residents'
-- satisfaction, the community's rating, declines.
function CR.unit_card(P, u, q)
  local s = hgetall(P .. 'score:unit:' .. u .. ':' .. q) or {}
  local ag_id = redis.call('HGET', P .. 'dir:unit_agreement', u)
  local ag = ag_id and redis.call('HMGET', P .. 'dir:agreement:' .. ag_id, 'per_quarter', 'hours_per_quarter') or {}
  local cases, services = tonumber(s.cases) or 0, tonumber(s.services) or 0
  local rated = tonumber(s.rated) or 0
  return { unit = u, name = redis.call('HGET', P .. 'unit:' .. u, 'name') or '', quarter = q,
           agreement = ag_id or '', promised = tonumber(ag[1]) or 0, promised_hours = tonumber(ag[2]) or 0,
           cases_closed = cases, services_logged = services, delivered = cases + services,
           hours = (tonumber(s.minutes) or 0) / 60,
           ontime = tonumber(s.ontime) or 0,
           ontime_rate = cases > 0 and (tonumber(s.ontime) or 0) / cases or nil,
           satisfaction = rated > 0 and (tonumber(s.rating_sum) or 0) / rated or nil,
           evaluations = rated, community_rating = tonumber(s.community_rating),
           rating_comment = s.rating_comment, declines = tonumber(s.declines) or 0 }
end

-- The quarter named, or this one.
function CR.quarter(P, text, now)
  if text and string.match(text, '^%d%d%d%dQ[1-4]$') then return text end
  return quarter_of(P, now)
end

function CR.unit(P, f, now)
  if redis.call('SISMEMBER', P .. 'dir:units', f[1] or '') == 0 then
    return fail('UNKNOWN_UNIT', 'no unit "' .. tostring(f[1]) .. '"')
  end
  return ok({ card = CR.unit_card(P, f[1], CR.quarter(P, f[2], now)) })
end

-- A person's scorecard: what they discovered and verified and how
-- promptly (grid workers), service hours (party members, volunteers), the
-- projects they joined.
function CR.person_card(P, id, q)
  local d = redis.call('HMGET', P .. 'dir:person:' .. id, 'name', 'roles', 'grid', 'community', 'title', 'skills')
  if not d[1] then return nil end
  local s = hgetall(P .. 'score:person:' .. id) or {}
  local hrs = redis.call('HMGET', P .. 'hours:person:' .. id, 'minutes', q)
  local verified = tonumber(s.verified) or 0
  local projects = redis.call('SMEMBERS', P .. 'claims:person:' .. id)
  table.sort(projects)
  return { person = id, name = d[1], roles = CW.list(d[2]), grid = d[3], community = d[4], title = d[5],
           skills = CW.list(d[6]), discovered = tonumber(s.discovered) or 0, verified = verified,
           verify_minutes_avg = verified > 0 and (tonumber(s.verify_ms) or 0) / verified / 60000 or nil,
           hours = (tonumber(hrs[1]) or 0) / 60, hours_quarter = (tonumber(hrs[2]) or 0) / 60, quarter = q,
           projects = projects }
end

function CR.person(P, f, now)
  local card = CR.person_card(P, f[1] or '', CR.quarter(P, f[2], now))
  if not card then return fail('BAD_VALUE', 'no person "' .. tostring(f[1]) .. '"') end
  return ok({ card = card })
end

-- agreements(quarter): each agreement's promise and delivery that quarter.
function CR.agreements(P, f, now)
  local q = CR.quarter(P, f[1], now)
  local ids = redis.call('SMEMBERS', P .. 'dir:agreements')
  table.sort(ids)
  local out = {}
  for _, id in ipairs(ids) do
    local ag = hgetall(P .. 'dir:agreement:' .. id)
    local card = CR.unit_card(P, ag.unit, q)
    out[#out + 1] = { id = id, unit = ag.unit, name = card.name, from = ag.from, to = ag.to,
                      services = CW.list(ag.services), venues = CW.list(ag.venues), promise = ag.text,
                      promised = card.promised, delivered = card.delivered, cases_closed = card.cases_closed,
                      services_logged = card.services_logged, hours = card.hours,
                      promised_hours = card.promised_hours,
                      progress = card.promised > 0 and card.delivered / card.promised or nil }
  end
  return ok({ quarter = q, agreements = out })
end

-- survey(id): its questions and the results per grid.
function CR.survey(P, f, now)
  local s = hgetall(P .. 'survey:' .. (f[1] or ''))
  if not s then return fail('BAD_VALUE', 'no survey "' .. tostring(f[1]) .. '"') end
  local grids = redis.call('SMEMBERS', P .. 'survey:' .. f[1] .. ':grids')
  table.sort(grids)
  local results = {}
  for _, g in ipairs(grids) do
    local r = hgetall(P .. 'survey:' .. f[1] .. ':res:' .. g) or {}
    for k, v in pairs(r) do r[k] = tonumber(v) end
    results[g] = r
  end
  return ok({ survey = { id = f[1], title = s.title, community = s.community, sheets = tonumber(s.sheets) or 0,
                         questions = cjson.decode(s.questions) }, results = results })
end

-- chain(grid): the grid's liaison chain, building by building, named.
function CR.chain(P, f, now)
  local g = f[1] or ''
  local c = hgetall(P .. 'dir:chain:' .. g)
  if not c then return fail('UNKNOWN_GRID', 'no liaison chain for grid "' .. g .. '"') end
  local function who(id)
    if not id or id == '' then return nil end
    local h = redis.call('HMGET', P .. 'dir:person:' .. id, 'name', 'title')
    return { id = id, name = h[1], title = h[2] }
  end
  local out = { grid = g, street_leader = who(c.street_leader), secretary = who(c.secretary),
                worker = who(c.worker), buildings = {} }
  for _, t in ipairs({ 2, 4 }) do
    local id = tier_person(P, g, t)
    out[t == 2 and 'community_secretary' or 'district'] = who(id)
  end
  local bs = CW.list(redis.call('HGET', P .. 'dir:grid:' .. g, 'buildings'))
  for _, b in ipairs(bs) do
    local h = redis.call('HMGET', P .. 'dir:chain:b:' .. b, 'party_group', 'head', 'members')
    if h[1] then
      local members = {}
      for _, m in ipairs(CW.list(h[3])) do members[#members + 1] = who(m) end
      out.buildings[#out.buildings + 1] = { building = b, party_group = who(h[1]), head = who(h[2]),
                                            members = members }
    end
  end
  return ok({ chain = out })
end

-- Ledgers for CSV export: { columns, rows }. kind: needs, projects,
-- agreements [quarter], units [quarter], workers, hours [quarter].
function CR.cell(x)
  if x == nil or x == cjson.null then return '' end
  if type(x) == 'number' then
    if x == math.floor(x) then return string.format('%d', x) end
    return string.format('%.2f', x)
  end
  if type(x) == 'table' then return table.concat(x, ' ') end
  return tostring(x)
end

function CR.ledger(P, f, now)
  local kind, q = f[1] or '', CR.quarter(P, f[2], now)
  local cols, rows = {}, {}
  -- a row's empty cells are nils: count to the header's width, not ipairs
  local function row(t)
    local r = {}
    for i = 1, #cols do r[i] = CR.cell(t[i]) end
    rows[#rows + 1] = r
  end
  if kind == 'needs' then
    cols = { '需求编号', '登记时间', '社区', '网格', '类别', '需求', '来源', '佐证数', '状态', '项目' }
    for _, id in ipairs(redis.call('ZRANGE', P .. 'needs', 0, CW.LIST_MAX - 1)) do
      local n = CR.need(P, id)
      row({ id, n.created, n.community, n.grid, n.category_name, n.text, n.source, n.evidence, n.status, n.project })
    end
  elseif kind == 'projects' then
    cols = { '项目编号', '项目', '目标', '覆盖需求', '实施单位', '认领单位', '所需技能', '志愿者名额',
             '已认领', '满额拒绝', '服务时长', '状态' }
    for _, id in ipairs(redis.call('ZRANGE', P .. 'projects', 0, CW.LIST_MAX - 1)) do
      local p = CR.project(P, id)
      row({ id, p.name, p.goal, p.needs, p.units, p.claimed_units, p.skills, p.volunteers, #p.people,
            p.refused_full, p.hours, p.status })
    end
  elseif kind == 'agreements' or kind == 'units' then
    cols = { '单位编号', '单位', '季度', '协议编号', '承诺服务', '已办结案件', '登记服务', '兑现合计',
             '服务时长', '按时率', '满意度', '社区评分', '拒单数' }
    local ids = {}
    if kind == 'agreements' then
      for _, id in ipairs(redis.call('SMEMBERS', P .. 'dir:agreements')) do
        ids[#ids + 1] = redis.call('HGET', P .. 'dir:agreement:' .. id, 'unit')
      end
    else
      ids = redis.call('SMEMBERS', P .. 'dir:units')
    end
    table.sort(ids)
    for _, u in ipairs(ids) do
      local c = CR.unit_card(P, u, q)
      row({ u, c.name, q, c.agreement, c.promised, c.cases_closed, c.services_logged, c.delivered, c.hours,
            c.ontime_rate, c.satisfaction, c.community_rating, c.declines })
    end
  elseif kind == 'workers' or kind == 'hours' then
    cols = kind == 'workers' and { '人员编号', '姓名', '职务', '网格', '发现上报', '核查', '平均核查用时(分钟)' }
                             or { '人员编号', '姓名', '身份', '社区', '技能', '季度', '本季度服务时长', '累计服务时长', '参与项目' }
    local ids = redis.call('SMEMBERS', P .. 'dir:persons')
    table.sort(ids)
    for _, id in ipairs(ids) do
      local roles = redis.call('HGET', P .. 'dir:person:' .. id, 'roles') or ''
      local worker = string.find(roles, ' grid_worker ', 1, true)
      local serves = string.find(roles, ' volunteer ', 1, true) or string.find(roles, ' party_member ', 1, true)
      if (kind == 'workers' and worker) or (kind == 'hours' and serves) then
        local c = CR.person_card(P, id, q)
        if kind == 'workers' then
          row({ id, c.name, c.title, c.grid, c.discovered, c.verified, c.verify_minutes_avg })
        else
          row({ id, c.name, c.roles, c.community, c.skills, q, c.hours_quarter, c.hours, c.projects })
        end
      end
      if #rows >= CW.LIST_MAX * 4 then break end
    end
  else
    return fail('BAD_VALUE', 'no ledger "' .. kind .. '" (needs, projects, agreements, units, workers, hours)')
  end
  return ok({ ledger = kind, quarter = q, columns = cols, rows = rows })
end

CR.views = { lists = CR.lists, team = CR.team, matching = CR.matching, unit = CR.unit, person = CR.person,
             agreements = CR.agreements, survey = CR.survey, chain = CR.chain, ledger = CR.ledger }

redis.register_function{ function_name = 'gc_community_read', callback = community_read, flags = { 'no-writes' } }
