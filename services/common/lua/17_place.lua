-- Places: a report's lat/lon, address id or address string resolved to a
-- grid and a building over the directory's geometry, which gc_dir_load
-- keeps as dir:geo (docs/directory.md, "Location"):
--   { nearest_m, window_min,
--     grids = [ { id, box = { lon0, lat0, lon1, lat1 }, ring = { lon, lat, ... } } ],
--     buildings = [ { id, grid, name, address, lon, lat } ] }
-- (a grid without a polygon has no ring; a building without a point no lon).

local EARTH_M = 6371008.8
local PLACE_MATCHES_SHOWN = 3

-- The geometry, decoded once per library load and directory load (both
-- start dir_cache afresh), with the buildings by id.
local function dir_geo(P)
  local d = dir_of(P)
  if not d.geo then
    local text = redis.call('GET', P .. 'dir:geo')
    local g = text and cjson.decode(text) or {}
    g.grids = g.grids or {}
    g.buildings = g.buildings or {}
    g.by_id, g.by_grid = {}, {}
    for _, b in ipairs(g.buildings) do
      g.by_id[b.id] = b
      g.by_grid[b.grid] = g.by_grid[b.grid] or {}
      table.insert(g.by_grid[b.grid], b)
    end
    d.geo = g
  end
  return d.geo
end

-- Even-odd rule over a flat ring { lon, lat, ... } (directory.c's
-- dir_ring_contains makes the same test when the directory is checked).
local function ring_contains(r, lon, lat)
  local inside = false
  local n = #r / 2
  local j = n
  for i = 1, n do
    local xi, yi, xj, yj = r[2 * i - 1], r[2 * i], r[2 * j - 1], r[2 * j]
    if (yi > lat) ~= (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi then
      inside = not inside
    end
    j = i
  end
  return inside
end

-- Metres between two points a street apart (equirectangular: exact enough
-- within a few kilometres).
local function metres(lon1, lat1, lon2, lat2)
  local k = math.pi / 180
  local x = (lon2 - lon1) * k * math.cos((lat1 + lat2) / 2 * k)
  local y = (lat2 - lat1) * k
  return math.sqrt(x * x + y * y) * EARTH_M
end

-- The building with a point nearest to (lon, lat), within grid g when
-- given: the building and its distance, or nil.
local function nearest_building(geo, lon, lat, g)
  local best, dist
  for _, b in ipairs(g and (geo.by_grid[g] or {}) or geo.buildings) do
    if b.lon then
      local m = metres(lon, lat, b.lon, b.lat)
      if not dist or m < dist then best, dist = b, m end
    end
  end
  return best, dist
end

-- A point to a grid: the grid whose polygon holds it, else the grid of
-- the nearest building within nearest_m. Returns grid, building ('' when
-- none within the bound), or nil, code, message.
local function locate_point(P, lat, lon, named)
  local geo = dir_geo(P)
  local at = string.format('point %.6f, %.6f (lat, lon)', lat, lon)
  local hits = {}
  for _, g in ipairs(geo.grids) do
    local b = g.box
    if b and lon >= b[1] and lon <= b[3] and lat >= b[2] and lat <= b[4]
       and ring_contains(g.ring, lon, lat) then
      table.insert(hits, g.id)
    end
  end
  -- overlapping polygons: the grid the reporter named, when it holds the point
  for _, g in ipairs(#hits > 1 and hits or {}) do
    if g == named then hits = { g }; break end
  end
  if #hits > 1 then
    return nil, 'BAD_VALUE', at .. ' lies in more than one grid (' .. table.concat(hits, ', ')
           .. '): their polygons overlap; give the grid'
  end
  local bound = tonumber(geo.nearest_m) or 0
  local near, dist = nearest_building(geo, lon, lat, hits[1])
  local b = (near and dist <= bound) and near.id or ''
  if #hits == 1 then return hits[1], b end
  if b ~= '' then return near.grid, b end
  if #geo.grids == 0 and not near then
    return nil, 'UNKNOWN_GRID', 'the directory has no grid polygons or building points: give the grid'
  end
  return nil, 'UNKNOWN_GRID', at .. ' is in no grid of the street'
         .. (near and string.format(' (the nearest building, %s, is %d m away; the bound is %d m)',
                                    near.id, math.floor(dist + 0.5), bound) or '')
end

-- Text compared loosely: no white space, ASCII letters in lower case.
local function place_norm(s)
  return string.lower((string.gsub(s or '', '%s+', '')))
end

-- An address string to a building: one whose name or address is the
-- string; else the longest name or address the string contains ("…1号楼
-- 3单元" finds "…1号楼"); else the one building whose name or address
-- contains the string. Returns grid, building, or nil, code, message.
local function locate_address(P, text)
  local q = place_norm(text)
  if q == '' then return nil, 'BAD_VALUE', 'address_string is empty' end
  local exact, inner, outer, best = {}, {}, {}, 0
  for _, b in ipairs(dir_geo(P).buildings) do
    local hit_exact, hit_inner, hit_outer = false, 0, false
    for _, f in ipairs({ b.name, b.address }) do
      local s = place_norm(f)
      if s ~= '' then
        if s == q then hit_exact = true
        elseif string.find(q, s, 1, true) then hit_inner = math.max(hit_inner, #s)
        elseif string.find(s, q, 1, true) then hit_outer = true end
      end
    end
    if hit_exact then table.insert(exact, b) end
    if hit_inner > best then inner, best = { b }, hit_inner
    elseif hit_inner > 0 and hit_inner == best then table.insert(inner, b) end
    if hit_outer then table.insert(outer, b) end
  end
  local found = #exact > 0 and exact or #inner > 0 and inner or outer
  if #found == 1 then return found[1].grid, found[1].id end
  if #found == 0 then
    return nil, 'UNKNOWN_GRID', 'address "' .. text .. '" matches no building of the street'
  end
  local names = {}
  for i = 1, math.min(#found, PLACE_MATCHES_SHOWN) do
    names[i] = found[i].id .. ' ' .. (found[i].address or found[i].name)
  end
  return nil, 'BAD_VALUE', 'address "' .. text .. '" is ambiguous: it matches ' .. #found
         .. ' buildings (' .. table.concat(names, '; ') .. (#found > #names and '; …' or '')
         .. '); give the building or a fuller address'
end

-- The grid and building of a report: its place (lat/lon, else address_id,
-- else address_string) resolved, checked against the grid and building
-- it names. Returns grid, building, or nil, code, message.
local function place_resolve(P, grid, building, lat, lon, address_id, address)
  local g, b, msg
  -- a point no grid holds, or an address matching no building or several:
  -- the grid the reporter named (a point in overlapping grids is placed
  -- by locate_point, in the named one only when it holds the point)
  local fallback = false
  if lat and lon then
    g, b, msg = locate_point(P, lat, lon, grid)
    fallback = b == 'UNKNOWN_GRID'
  elseif address_id ~= '' or (grid == '' and building ~= '') then
    local id = address_id ~= '' and address_id or building
    local rec = dir_geo(P).by_id[id]
    if not rec then
      return nil, 'BAD_VALUE', 'address_id "' .. id .. '" is no building of the directory'
    end
    g, b = rec.grid, rec.id
  elseif address ~= '' then
    g, b, msg = locate_address(P, address)
    fallback = not g
  elseif grid == '' then
    return nil, 'MISSING_FIELD', 'a report needs a grid, or a place: lat/lon, address_id or address_string'
  else
    return grid, building
  end
  if not g and fallback and grid ~= '' then return grid, building end
  if not g then return nil, b, msg end
  if grid ~= '' and grid ~= g then
    return nil, 'BAD_VALUE', 'the place given lies in grid ' .. g .. ', not in grid ' .. grid
  end
  return g, building ~= '' and building or b
end
