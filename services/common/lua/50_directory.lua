-- The directory as Redis holds it.

-- The working calendar as 05_clock.lua reads it: dir:cal w1..w7 = sorted
-- "from-to,..." minute spans per weekday, d:YYYYMMDD = off (holiday) or
-- on (make-up day), makeup_weekday. No calendar: no key, every clock wall.
local function dir_load_calendar(P, cal)
  redis.call('DEL', P .. 'dir:cal')
  if type(cal) ~= 'table' then return end
  local days = {}
  for _, h in ipairs(cal.working_hours or {}) do
    local f1, f2 = string.match(h.from, '^(%d%d):(%d%d)$')
    local t1, t2 = string.match(h.to, '^(%d%d):(%d%d)$')
    days[h.weekday] = days[h.weekday] or {}
    table.insert(days[h.weekday], { tonumber(f1) * 60 + tonumber(f2), tonumber(t1) * 60 + tonumber(t2) })
  end
  local args = { 'makeup_weekday', cal.makeup_weekday or 1 }
  for wd, spans in pairs(days) do
    table.sort(spans, function(x, y) return x[1] < y[1] end)
    local parts = {}
    for _, sp in ipairs(spans) do table.insert(parts, sp[1] .. '-' .. sp[2]) end
    table.insert(args, 'w' .. wd); table.insert(args, table.concat(parts, ','))
  end
  for _, d in ipairs(cal.holidays or {}) do
    table.insert(args, 'd:' .. string.gsub(d, '-', '')); table.insert(args, 'off')
  end
  for _, d in ipairs(cal.makeup_days or {}) do
    table.insert(args, 'd:' .. string.gsub(d, '-', '')); table.insert(args, 'on')
  end
  redis.call('HSET', P .. 'dir:cal', unpack(args))
end

-- The geometry 17_place.lua reads (dir:geo): every building (an
-- address_id names one), the grids' polygons as flat rings with their
-- bounding boxes, and the location section's bounds.
local function dir_load_geo(P, d)
  local loc = d.location or {}
  local geo = { nearest_m = loc.nearest_building_m or 0, window_min = loc.duplicate_window_minutes or 0,
                grids = {}, buildings = {} }
  for _, g in ipairs(d.grids) do
    if type(g.polygon) == 'table' and #g.polygon >= 4 then
      local ring, box = {}, { 180, 90, -180, -90 }
      for _, pt in ipairs(g.polygon) do
        table.insert(ring, pt[1]); table.insert(ring, pt[2])
        box[1] = math.min(box[1], pt[1]); box[2] = math.min(box[2], pt[2])
        box[3] = math.max(box[3], pt[1]); box[4] = math.max(box[4], pt[2])
      end
      table.insert(geo.grids, { id = g.id, box = box, ring = ring })
    end
    for _, b in ipairs(g.buildings or {}) do
      local rec = { id = b.id, grid = g.id, name = b.name, address = b.address }
      if type(b.point) == 'table' then rec.lon, rec.lat = b.point[1], b.point[2] end
      table.insert(geo.buildings, rec)
    end
  end
  redis.call('SET', P .. 'dir:geo', cjson.encode(geo))
end

-- The community's directory sections (docs/directory.md, "People and the
-- chain"): persons, the liaison chain per grid and building, standing
-- teams, co-building agreements and venues. Each section's ids are kept in
-- a set so a reload removes what the new file dropped.
local function dir_load_people(P, d)
  for _, s in ipairs({ 'persons', 'chains', 'teams', 'agreements', 'venues', 'buildings' }) do
    local prefix = ({ persons = 'dir:person:', chains = 'dir:chain:', teams = 'dir:team:',
                      agreements = 'dir:agreement:', venues = 'dir:venue:',
                      buildings = 'dir:chain:b:' })[s]
    for _, id in ipairs(redis.call('SMEMBERS', P .. 'dir:' .. s)) do
      redis.call('DEL', P .. prefix .. id)
    end
    redis.call('DEL', P .. 'dir:' .. s)
  end
  redis.call('DEL', P .. 'dir:principal', P .. 'dir:tierperson', P .. 'dir:unit_agreement')
  local function framed(list) return ' ' .. table.concat(list or {}, ' ') .. ' ' end
  for _, p in ipairs(d.people or {}) do
    redis.call('HSET', P .. 'dir:person:' .. p.id, 'name', p.name, 'roles', framed(p.roles),
               'title', p.title or '', 'community', p.community or '', 'grid', p.grid or '',
               'building', p.building or '', 'unit', p.unit or '', 'skills', framed(p.skills),
               'available', cjson.encode(p.availability or {}), 'principal', p.principal or '')
    redis.call('SADD', P .. 'dir:persons', p.id)
    if p.principal then redis.call('HSET', P .. 'dir:principal', p.principal, p.id) end
  end
  local chain = d.chain or {}
  if chain.district then redis.call('HSET', P .. 'dir:tierperson', 'd', chain.district) end
  for _, c in ipairs(chain.communities or {}) do
    redis.call('HSET', P .. 'dir:tierperson', 'c:' .. c.community, c.secretary)
  end
  for _, g in ipairs(chain.grids or {}) do
    redis.call('HSET', P .. 'dir:chain:' .. g.grid, 'street_leader', g.street_leader,
               'secretary', g.secretary, 'worker', g.worker)
    redis.call('SADD', P .. 'dir:chains', g.grid)
    for _, b in ipairs(g.buildings or {}) do
      redis.call('HSET', P .. 'dir:chain:b:' .. b.building, 'grid', g.grid,
                 'party_group', b.party_group, 'head', b.head or '', 'members', framed(b.members))
      redis.call('SADD', P .. 'dir:buildings', b.building)
    end
  end
  for _, t in ipairs(d.teams or {}) do
    redis.call('HSET', P .. 'dir:team:' .. t.id, 'name', t.name, 'lead', t.lead,
               'members', framed(t.members), 'served', t.served or 0)
    redis.call('SADD', P .. 'dir:teams', t.id)
  end
  for _, a in ipairs(d.agreements or {}) do
    redis.call('HSET', P .. 'dir:agreement:' .. a.id, 'unit', a.unit, 'from', a.from, 'to', a.to,
               'services', framed(a.services), 'per_quarter', a.services_per_quarter,
               'hours_per_quarter', a.hours_per_quarter, 'venues', framed(a.venues),
               'text', a.promise or '')
    redis.call('SADD', P .. 'dir:agreements', a.id)
    redis.call('HSET', P .. 'dir:unit_agreement', a.unit, a.id)
  end
  for _, v in ipairs(d.venues or {}) do
    redis.call('HSET', P .. 'dir:venue:' .. v.id, 'name', v.name, 'unit', v.unit or '',
               'community', v.community or '', 'capacity', v.capacity)
    redis.call('SADD', P .. 'dir:venues', v.id)
  end
end

-- dir_load(P, json, principal): replace the directory with a validated one
-- (the CLI validates it in C first). Unit load counters survive a reload.
local function dir_load(keys, a)
  local P = a[1]
  local d = cjson.decode(a[2])
  local old = redis.call('SMEMBERS', P .. 'dir:grids')
  for _, g in ipairs(old) do redis.call('DEL', P .. 'dir:grid:' .. g) end
  for _, c in ipairs(redis.call('SMEMBERS', P .. 'dir:cats')) do
    redis.call('DEL', P .. 'dir:cat:' .. c)
  end
  redis.call('DEL', P .. 'dir:grids', P .. 'dir:cats', P .. 'dir:units', P .. 'dir:street')
  local s = d.street
  redis.call('HSET', P .. 'dir:street', 'id', s.id, 'code', s.code, 'name', s.name,
             'utc_offset_minutes', s.utc_offset_minutes or 0)
  for _, g in ipairs(d.grids) do
    -- the grid's building ids, space-separated and framed, for register's check
    local ids = {}
    for _, b in ipairs(g.buildings or {}) do table.insert(ids, b.id) end
    redis.call('HSET', P .. 'dir:grid:' .. g.id, 'name', g.name, 'community', g.community,
               'buildings', ' ' .. table.concat(ids, ' ') .. ' ')
    redis.call('SADD', P .. 'dir:grids', g.id)
  end
  for _, c in ipairs(d.categories) do
    local args = { 'name', c.name, 'kind', c.kind,
                   'start_tier', ({ GRID = 1, COMMUNITY = 2, STREET = 3, DISTRICT = 4 })[c.start_tier] }
    for i, t in ipairs(TIERS) do
      if c.limits_minutes[t] then
        table.insert(args, 'limit_' .. i); table.insert(args, c.limits_minutes[t])
      end
      if c.joint_by_tier and c.joint_by_tier[t] then
        table.insert(args, 'joint_' .. i); table.insert(args, c.joint_by_tier[t])
      end
    end
    -- the clock (05_clock.lua): working or wall time, reminder fraction
    table.insert(args, 'clock'); table.insert(args, c.clock or 'wall')
    table.insert(args, 'remind'); table.insert(args, c.reminder_fraction or 0.75)
    table.insert(args, 'joint_units'); table.insert(args, c.joint_units or 1)
    table.insert(args, 'verify_minutes'); table.insert(args, c.verify_minutes or 1440)
    table.insert(args, 'team'); table.insert(args, c.joint_team or '')
    redis.call('HSET', P .. 'dir:cat:' .. c.code, unpack(args))
    redis.call('SADD', P .. 'dir:cats', c.code)
  end
  dir_load_calendar(P, d.calendar)
  dir_load_geo(P, d)
  dir_load_people(P, d)
  for _, u in ipairs(d.units) do
    redis.call('HSET', P .. 'unit:' .. u.id, 'name', u.name, 'capacity', u.capacity,
               'responsible', u.responsible or '')
    redis.call('SADD', P .. 'dir:units', u.id)
  end
  redis.call('SET', P .. 'dir:json', a[2])
  dir_forget(P)
  unit_forget(P)
  local v = redis.call('INCR', P .. 'dir:version')
  audit(P, a[3], '', 'directory.load', s.id, string.format('version %d: %d grids, %d categories, %d units, sha1 %s',
        v, #d.grids, #d.categories, #d.units, redis.sha1hex(a[2])))
  return ok({ version = v, grids = #d.grids, categories = #d.categories, units = #d.units })
end

local function dir_get(keys, a)
  local js = redis.call('GET', a[1] .. 'dir:json')
  if not js then return fail('NO_DIRECTORY', 'no directory loaded; run gridcall directory load FILE') end
  return ok({ version = tonumber(redis.call('GET', a[1] .. 'dir:version')), json = js })
end

-- dir_version(P): the directory's version, to notice a reload cheaply.
local function dir_version(keys, a)
  return ok({ version = tonumber(redis.call('GET', a[1] .. 'dir:version')) or 0 })
end

redis.register_function('gc_dir_load', dir_load)
redis.register_function{ function_name = 'gc_dir_version', callback = dir_version, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_dir_get', callback = dir_get, flags = { 'no-writes' } }
