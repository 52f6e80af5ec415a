-- People on the liaison chain (五级包联), standing teams and the counters
-- the community's scorecards read, kept by the case transitions
-- (docs/community.md). The directory's people live in dir:person:<id>,
-- each grid's chain in dir:chain:<grid>, the community secretaries and the
-- district's person in dir:tierperson (50_directory.lua loads them).

-- The quarter ("2026Q3") of Unix ms t in the street's local time.
local function quarter_of(P, t)
  local day = ymd(math.floor((t + dir_street(P).offset * 60000) / 86400000))
  return string.sub(day, 1, 4) .. 'Q' .. math.floor((tonumber(string.sub(day, 5, 6)) - 1) / 3) + 1
end

-- The named person who answers for grid g at tier (1..4): the grid worker,
-- the community's secretary, the street leader linked to the grid's party
-- branch, the district's liaison. Returns id, name and role, or nil.
local function tier_person(P, g, tier)
  -- kept in the library's memory with the directory's hot parts (00_core
  -- dir_of; a reload forgets them): a register or a climb reads nothing
  local d = dir_of(P)
  d.tp = d.tp or {}
  local hit = d.tp[g .. ':' .. tier]
  if hit ~= nil then
    if hit == false then return nil end
    return hit[1], hit[2], hit[3]
  end
  local id, name, title = nil, nil, nil
  if tier == 1 or tier == 3 then
    id = redis.call('HGET', P .. 'dir:chain:' .. g, tier == 1 and 'worker' or 'street_leader')
  elseif tier == 2 then
    local community = redis.call('HGET', P .. 'dir:grid:' .. g, 'community')
    id = community and redis.call('HGET', P .. 'dir:tierperson', 'c:' .. community)
  else
    id = redis.call('HGET', P .. 'dir:tierperson', 'd')
  end
  if id then
    local h = redis.call('HMGET', P .. 'dir:person:' .. id, 'name', 'title')
    if h[1] then name, title = h[1], h[2] or '' else id = nil end
  end
  d.tp[g .. ':' .. tier] = id and { id, name, title } or false
  return id, name, title
end

-- Count what the person a principal label stands for did (discovered,
-- verified ...): score:person:<id> field += n. Labels no person carries
-- count nothing.
local function person_count(P, label, field, n)
  if (label or '') == '' then return end
  -- which person a label stands for is the directory's (dir_of: a
  -- reload forgets it)
  local d = dir_of(P)
  d.pp = d.pp or {}
  local id = d.pp[label]
  if id == nil then
    id = redis.call('HGET', P .. 'dir:principal', label) or false
    d.pp[label] = id
  end
  if id then redis.call('HINCRBY', P .. 'score:person:' .. id, field, I(n or 1)) end
end

-- A case closed: the units that handled it delivered one service this
-- quarter (on time or not), its verifier verified one, and a standing
-- team's case counts as one more resident it served.
local function community_case_closed(P, c, who)
  local q = quarter_of(P, c._now)
  local units = {}
  if (c.unit or '') ~= '' then units[#units + 1] = c.unit end
  -- only a joint case has parties (when c was loaded without
  -- parties_needed, its parties are read to be sure)
  local known = c._known == true or (c._known and c._known.parties_needed)
  if (tonumber(c.parties_needed) or 0) > 0 or not known then
    for _, u in ipairs(redis.call('HKEYS', P .. 'case:' .. c.id .. ':parties')) do
      if u ~= c.unit then units[#units + 1] = u end
    end
  end
  local h = { c.resolved, c.due0, c.resolve_by }
  if c.resolved == nil or c.due0 == nil then
    h = redis.call('HMGET', P .. 'case:' .. c.id, 'resolved', 'due0', 'resolve_by')
  end
  local resolved = tonumber(h[1]) or c._now
  local ontime = resolved <= (tonumber(h[2]) or tonumber(h[3]) or 0)
  for _, u in ipairs(units) do
    local k = P .. 'score:unit:' .. u .. ':' .. q
    redis.call('HINCRBY', k, 'cases', 1)
    if ontime then redis.call('HINCRBY', k, 'ontime', 1) end
  end
  person_count(P, who, 'verified')
  if tonumber(h[1]) then person_count(P, who, 'verify_ms', c._now - resolved) end
  local team = (dir_cat(P, c.category) or {}).team
  if team and team ~= '' then redis.call('SADD', P .. 'team:' .. team .. ':served', c.id) end
end

-- A resident's evaluation of a case: its unit's satisfaction this quarter.
local function community_case_rated(P, c, score)
  if (c.unit or '') == '' then return end
  local k = P .. 'score:unit:' .. c.unit .. ':' .. quarter_of(P, now_ms())
  redis.call('HINCRBY', k, 'rated', 1)
  redis.call('HINCRBY', k, 'rating_sum', I(score))
end

-- A unit declined an offer: one more decline this quarter.
local function community_unit_declined(P, u)
  redis.call('HINCRBY', P .. 'score:unit:' .. u .. ':' .. quarter_of(P, now_ms()), 'declines', 1)
end

-- The standing team a category names (joint_team), as two candidate lists
-- drawn from cands (the units dispatch found fitting, connected and on
-- duty): its lead, and its other members. nil when the category names none.
local function team_of(P, category, cands)
  local team = redis.call('HGET', P .. 'dir:cat:' .. category, 'team')
  if not team or team == '' then return nil end
  local t = redis.call('HMGET', P .. 'dir:team:' .. team, 'lead', 'members')
  if not t[1] then return nil end
  local lead, members = {}, {}
  for _, u in ipairs(cands) do
    if u == t[1] then lead[1] = u
    elseif string.find(t[2] or '', ' ' .. u .. ' ', 1, true) then members[#members + 1] = u end
  end
  return lead, members
end
