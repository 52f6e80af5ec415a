-- Matters (议题) and the 提议定办评 loop: propose, deliberate, decide,
-- carry out, evaluate (docs/matters.md). A matter follows the steps of its
-- template in order; a step out of order is refused naming the step that
-- must come first. Meetings of the four levels hold matters on their
-- agendas; deliberations and votes are recorded at a meeting that has the
-- matter on its agenda. A task is a case (channel OPERATOR, fields matter
-- and task) that dispatch, escalate and notify handle as any other; its
-- closing counts for its matter (09_matter_link.lua).
--
-- Keys: mtpl:{code} current version, mtpl:{code}:{version} the template's
-- JSON (never changed once loaded), mtpls the codes; matter:{id} (+ :log,
-- :tasks, :evals, :meetings); meeting:{id} hash (agenda JSON, record:<matter>
-- the deliberation's record); idx:matters (by created), idx:meetings (by
-- time); seq:matter:{day}, seq:meeting:{day}; idem:{principal}:matter:{key}.

-- The file is one block: its locals end with it (a Lua function, the
-- library's main chunk included, holds at most 200 locals at a time).
do

-- The matters' constants, one local (the library's main chunk is near
-- Lua's 200 locals: each callback below is a block of its own for it).
local MT = {
  STEP_KINDS = { propose = 'PROPOSE', deliberate = 'DELIBERATE', notice = 'DECIDE',
                     vote = 'DECIDE', tasks = 'CARRY_OUT', evaluate = 'EVALUATE' },
  LEVELS = { GRID = '网格党群议事会', COMMUNITY = '社区党群服务调度会',
                 JOINT = '社区联合党委联席会议', STREET = '街道大工委' },
  LEVEL_ORDER = { 'GRID', 'COMMUNITY', 'JOINT', 'STREET' },
  MATTER_STAGES = { 'PROPOSE', 'DELIBERATE', 'DECIDE', 'CARRY_OUT', 'EVALUATE', 'DONE' },
  TEMPLATE_STEPS_MAX = 20,
  NOTICE_HOURS_MAX = 24 * 90,
  AGENDA_MAX = 20,
  TASKS_MAX = 20,
  OPTIONS_MAX = 10,
  BOARD_MAX = 500,
  decoded = {}
}

-- What is wrong with template t (a decoded JSON object), or nil.
local function template_problem(t)
  if type(t) ~= 'table' then return 'a template must be an object' end
  if type(t.code) ~= 'string' or not string.match(t.code, '^[a-z][a-z0-9_]*$') or #t.code > 32 then
    return 'code must be 1..32 of [a-z0-9_], starting with a letter'
  end
  local where = 'template ' .. t.code .. ': '
  if type(t.name) ~= 'string' or t.name == '' then return where .. 'name is required' end
  if type(t.version) ~= 'number' or t.version < 1 or t.version ~= math.floor(t.version) then
    return where .. 'version must be a whole number from 1'
  end
  local steps = t.steps
  if type(steps) ~= 'table' or #steps < 3 or #steps > MT.TEMPLATE_STEPS_MAX then
    return where .. 'steps must be a list of 3..' .. MT.TEMPLATE_STEPS_MAX
  end
  local seen, noticed = {}, false
  for i, s in ipairs(steps) do
    local at = where .. 'step ' .. i .. ': '
    if type(s) ~= 'table' then return at .. 'must be an object' end
    if type(s.id) ~= 'string' or not string.match(s.id, '^[a-z][a-z0-9_]*$') or #s.id > 32 then
      return at .. 'id must be 1..32 of [a-z0-9_]'
    end
    if seen[s.id] then return at .. 'id ' .. s.id .. ' is used twice' end
    seen[s.id] = true
    if type(s.name) ~= 'string' or s.name == '' then return at .. 'name is required' end
    if not MT.STEP_KINDS[s.kind or ''] then
      return at .. 'kind must be propose, deliberate, notice, vote, tasks or evaluate'
    end
    if (i == 1) ~= (s.kind == 'propose') then return at .. 'the first step, and only it, is propose' end
    if (i == #steps) ~= (s.kind == 'evaluate') then
      return at .. 'the last step, and only it, is evaluate'
    end
    if (i == #steps - 1) ~= (s.kind == 'tasks') then
      return at .. 'the step before evaluate, and only it, is tasks'
    end
    if s.kind == 'deliberate' or s.kind == 'vote' then
      if not MT.LEVELS[s.level or ''] then return at .. 'level must be GRID, COMMUNITY, JOINT or STREET' end
    end
    if s.kind == 'notice' then
      if type(s.notice_hours) ~= 'number' or s.notice_hours < 0 or s.notice_hours > MT.NOTICE_HOURS_MAX then
        return at .. 'notice_hours must be 0..' .. MT.NOTICE_HOURS_MAX
      end
      noticed = true
    end
    if s.kind == 'vote' then
      if not noticed then return at .. 'a vote needs a notice step before it' end
      for _, f in ipairs({ 'quorum', 'majority' }) do
        if type(s[f]) ~= 'number' or s[f] <= 0 or s[f] > 1 then return at .. f .. ' must be in (0, 1]' end
      end
      if s.majority <= 0.5 then return at .. 'majority must be more than half' end
      noticed = false       -- a second vote needs its own notice
    end
    if s.kind == 'evaluate' and s.min_evaluations ~= nil
    and (type(s.min_evaluations) ~= 'number' or s.min_evaluations < 1) then
      return at .. 'min_evaluations must be a number from 1'
    end
  end
  return nil
end

do
-- templates_load(P, json, who): load the templates of a file
-- {"templates": [...]}, each validated; a version once loaded never
-- changes (a matter keeps the version it started with): new content needs
-- a new version.
local function templates_load(keys, a)
  local P = a[1]
  local okd, doc = pcall(cjson.decode, a[2] or '')
  if not okd or type(doc) ~= 'table' or type(doc.templates) ~= 'table' or #doc.templates == 0 then
    return fail('BAD_VALUE', 'a templates file is {"templates": [ ... ]} with one or more templates')
  end
  local texts, codes = {}, {}
  for i, t in ipairs(doc.templates) do
    local problem = template_problem(t)
    if problem then return fail('BAD_VALUE', 'templates[' .. i .. ']: ' .. problem) end
    if codes[t.code] then return fail('BAD_VALUE', 'template ' .. t.code .. ' appears twice') end
    codes[t.code] = true
    texts[i] = cjson.encode(t)
    local had = redis.call('GET', P .. 'mtpl:' .. t.code .. ':' .. t.version)
    if had and had ~= texts[i] then
      return fail('CONFLICT', 'template ' .. t.code .. ' version ' .. t.version
                  .. ' is loaded with other content: give the new content a new version')
    end
  end
  local out = {}
  for i, t in ipairs(doc.templates) do
    redis.call('SET', P .. 'mtpl:' .. t.code .. ':' .. t.version, texts[i])
    MT.decoded[P .. 'mtpl:' .. t.code .. ':' .. t.version] = nil   -- (a flushed Redis)
    redis.call('SET', P .. 'mtpl:' .. t.code, I(t.version))
    redis.call('SADD', P .. 'mtpls', t.code)
    table.insert(out, t.code .. ' v' .. t.version)
  end
  audit(P, a[3] or '', '', 'matters.templates', table.concat(out, ' '), #out .. ' templates')
  return ok({ loaded = out })
end
redis.register_function('gc_matter_templates_load', templates_load)
end

-- The template of code at version (current when nil), decoded, or nil.
-- A loaded version never changes, so its decoding is kept in the
-- library's memory (MT.decoded; a library load starts it empty).
local function template_of(P, code, version)
  version = version or redis.call('GET', P .. 'mtpl:' .. code)
  if not version then return nil end
  local key = P .. 'mtpl:' .. code .. ':' .. version
  local t = MT.decoded[key]
  if t then return t end
  local text = redis.call('GET', key)
  t = text and cjson.decode(text) or nil
  MT.decoded[key] = t
  return t
end

local function matter_steps(P, m)
  local t = template_of(P, m.template, m.tpl_version)
  return t and t.steps or {}
end

local function step_label(i, s)
  return string.format('step %d "%s" (%s%s)', i, s.id, s.name,
                       s.level and (', ' .. MT.LEVELS[s.level]) or '')
end

-- The step the matter waits for when it is of kind (and level, when
-- given): the step, or nil and the reason a request of this kind is
-- refused now: the step that must come first.
local function step_due(P, m, kind, level, what)
  local steps = matter_steps(P, m)
  local i = tonumber(m.step) or 1
  local s = steps[i]
  if not s then return nil, 'matter ' .. m.id .. ' has completed its steps' end
  if s.kind ~= kind or (level and s.level and s.level ~= level) then
    return nil, string.format('%s is out of order for matter %s (%s): %s must come first',
                              what, m.id, m.template, step_label(i, s))
  end
  return s, i, steps
end

-- The reply of a matter request; jobs queued by the call go along.
local function matter_reply(P, m, extra)
  local t = extra or {}
  t.matter_id = m.id; t.stage = m.stage
  local s = matter_steps(P, m)[tonumber(m.step) or 1]
  t.step = s and s.id or ''
  if m._q and m._q._jobs and #m._q._jobs > 0 then
    t.jobs = t.jobs or {}
    t.job_info = t.job_info or {}
    t.job_cases = t.job_cases or {}
    for i, id in ipairs(m._q._jobs) do
      table.insert(t.jobs, id); table.insert(t.job_info, m._q._job_info[i])
    end
    for id, x in pairs(job_cases_of(m._q._job_case)) do t.job_cases[id] = x end
  end
  return ok(t)
end

-- Refuse when the principal's area (a community operator's community, ''
-- street-wide: auth_area) does not hold community.
local function area_refusal(area, community, what)
  if (area or '') ~= '' and area ~= community then
    return fail('NOT_PERMITTED', what .. ' is in community ' .. (community or '?')
                .. ', outside the operator\'s community ' .. area)
  end
  return nil
end

local function unknown_matter(id)
  return fail('UNKNOWN_MATTER', 'no matter ' .. (id or ''))
end

-- The matter an operator's step is about, when it is in the operator's
-- area (area_refusal), with by (the name the client gave) for its
-- timeline; else nil and the refusal.
local function matter_for(P, id, area, by)
  local m = matter_load(P, id)
  if not m then return nil, unknown_matter(id) end
  local refused = area_refusal(area, m.community, 'matter ' .. m.id)
  if refused then return nil, refused end
  m._by = by
  return m
end

-- A new matter at its first step done (propose): shared by propose and
-- promote. f holds template, title, text, grid, community, channel,
-- proposer, via, case.
local function matter_new(P, f, tpl, who, by, what, note)
  local now = now_ms()
  local street = dir_street(P)
  local day = ymd(math.floor((now + street.offset * 60000) / 86400000))
  local seq = redis.call('INCR', P .. 'seq:matter:' .. day)
  local m = { id = string.format('%s-M%s-%04d', street.code, day, seq), _now = now, _by = by,
              template = tpl.code, tpl_version = tpl.version, title = f.title, text = f.text or '',
              grid = f.grid, community = f.community, channel = f.channel or '',
              proposer = f.proposer or '', via = who, case = f.case or '', created = now,
              stage = 'PROPOSE', step = 2, version = 0 }
  matter_save(P, m, { 'template', 'tpl_version', 'title', 'text', 'grid', 'community', 'channel',
                      'proposer', 'via', 'case', 'created' })
  redis.call('ZADD', P .. 'idx:matters', I(now), m.id)
  matter_log(P, m, what, who, note, { template = tpl.code .. ' v' .. tpl.version },
             { 'matter.' .. what, 'grid:' .. f.grid })
  return m
end

do
-- propose(P, idem, template, grid, title, text, channel, proposer, who,
-- area, content_hash): 提. The idempotency key is the principal's own.
local function propose(keys, a)
  local P, idem, code, grid = a[1], a[2], a[3], a[4]
  local who, hash = a[9] or '', a[11] or ''
  local ikey = P .. 'idem:' .. who .. ':matter:' .. idem
  local seen = redis.call('GET', ikey)
  if seen then
    local id, h = string.match(seen, '^(%S+) ?(%S*)$')
    if h ~= hash then
      return fail('CONFLICT', 'idempotency key ' .. idem .. ' was used for another proposal (' .. id .. ')')
    end
    local m = matter_load(P, id)
    if m then return matter_reply(P, m, { duplicate = true }) end
  end
  local tpl = template_of(P, code)
  if not tpl then
    local have = redis.call('SMEMBERS', P .. 'mtpls')
    table.sort(have)
    return fail('BAD_VALUE', 'template "' .. code .. '" is not loaded (loaded: '
                .. (#have > 0 and table.concat(have, ', ') or 'none') .. ')')
  end
  local g = dir_grid(P, grid)
  if not g then return fail('UNKNOWN_GRID', 'grid "' .. grid .. '" is not in the directory') end
  local refused = area_refusal(a[10], g.community, 'grid ' .. grid)
  if refused then return refused end
  local m = matter_new(P, { template = code, title = a[5], text = a[6], grid = grid,
                            community = g.community, channel = a[7], proposer = a[8] },
                       tpl, who, a[8], 'proposed', a[5])
  redis.call('SET', ikey, m.id .. ' ' .. hash, 'EX', '604800')
  return matter_reply(P, m, { duplicate = false })
end
redis.register_function('gc_matter_propose', propose)
end

do
-- promote(P, case_id, template, title, note, who, area, by): an operator
-- makes a case the proposal of a new matter; both name the other.
local function promote(keys, a)
  local P, case_id, code, who = a[1], a[2], a[3], a[6] or ''
  local c = load_case(P, case_id)
  if not c then return fail('UNKNOWN_CASE', 'no case ' .. case_id) end
  local refused = area_refusal(a[7], c.community, 'case ' .. case_id)
  if refused then return refused end
  if (c.promoted_to or '') ~= '' then
    local m = matter_load(P, c.promoted_to)
    if m then return matter_reply(P, m, { duplicate = true, result = case_id }) end
  end
  local tpl = template_of(P, code)
  if not tpl then return fail('BAD_VALUE', 'template "' .. code .. '" is not loaded') end
  local m = matter_new(P, { template = code, title = a[4], text = c.text, grid = c.grid,
                            community = c.community, channel = c.channel,
                            proposer = c.reporter, case = case_id },
                       tpl, who, a[8], 'promoted',
                       'from case ' .. case_id .. ((a[5] or '') ~= '' and (': ' .. a[5]) or ''))
  redis.call('HSET', P .. 'case:' .. case_id, 'promoted_to', m.id)
  c._by = a[8]
  log_event(P, c, 'promoted', who, 'made matter ' .. m.id .. ((a[5] or '') ~= '' and (': ' .. a[5]) or ''),
            { matter = m.id })
  audit(P, who, a[8], 'matter.promote', case_id, m.id)
  return matter_reply(P, m, { duplicate = false, result = case_id })
end
redis.register_function('gc_matter_promote', promote)
end

-- The communities of the directory's grids, as a set.
local function communities(P)
  local out = {}
  for _, g in ipairs(redis.call('SMEMBERS', P .. 'dir:grids')) do
    local t = dir_grid(P, g)
    if t then out[t.community] = true end
  end
  return out
end

-- Decode a JSON list argument of at most max entries, or nil.
local function list_arg(text, max)
  local okd, v = pcall(cjson.decode, text or '[]')
  if not okd or type(v) ~= 'table' or #v > max then return nil end
  return v
end

-- The matters of an agenda (a JSON list of ids) that may go on meeting
-- mt (level, community, grid), at most AGENDA_MAX with the have already
-- on it: the list and the matters, or nil and the refusal.
local function agenda_matters(P, text, mt, have)
  local okd, agenda = pcall(cjson.decode, text or '[]')
  if not okd or type(agenda) ~= 'table' or #agenda + have > MT.AGENDA_MAX then
    return nil, fail('BAD_VALUE', 'an agenda holds at most ' .. MT.AGENDA_MAX .. ' matters')
  end
  local matters = {}
  for _, id in ipairs(agenda) do
    local m = matter_load(P, id)
    if not m then return nil, unknown_matter(id) end
    if mt.level ~= 'STREET' and m.community ~= mt.community then
      return nil, fail('BAD_VALUE', 'matter ' .. id .. ' is in community ' .. m.community .. ', not on a '
                       .. MT.LEVELS[mt.level] .. ' of ' .. mt.community)
    end
    if mt.level == 'GRID' and m.grid ~= mt.grid then
      return nil, fail('BAD_VALUE', 'matter ' .. id .. ' is in grid ' .. m.grid .. ', not ' .. mt.grid)
    end
    table.insert(matters, m)
  end
  return agenda, matters
end

-- Each matter's timeline says it is on meeting mt's agenda.
local function agenda_log(P, matters, mt, who, by)
  local when = fmt_case_time(P, tonumber(mt.at))
  for _, m in ipairs(matters) do
    m._by = by
    redis.call('SADD', P .. 'matter:' .. m.id .. ':meetings', mt.id)
    matter_log(P, m, 'on_agenda', who, 'on the agenda of the ' .. MT.LEVELS[mt.level] .. ' ' .. mt.id
               .. ' at ' .. mt.venue .. ', ' .. when, { meeting = mt.id, level = mt.level })
  end
end

do
-- meeting_schedule(P, idem, level, community, grid, venue, at_ms,
-- agenda_json, who, area, by): a meeting of one of the four levels, with
-- the matters on its agenda (each in its community, or its grid at GRID).
local function meeting_schedule(keys, a)
  local P, idem, level, community, grid, venue, at = a[1], a[2], a[3], a[4] or '', a[5] or '', a[6], tonumber(a[7])
  local who = a[9] or ''
  local ikey = P .. 'idem:' .. who .. ':meeting:' .. idem
  local seen = redis.call('GET', ikey)
  if seen then
    return ok({ matter_id = seen, stage = '', step = '', duplicate = true })
  end
  if not MT.LEVELS[level] then return fail('BAD_VALUE', 'level must be GRID, COMMUNITY, JOINT or STREET') end
  if level == 'GRID' then
    local g = dir_grid(P, grid)
    if not g then return fail('UNKNOWN_GRID', 'a grid council needs a grid of the directory, not "' .. grid .. '"') end
    if community ~= '' and community ~= g.community then
      return fail('BAD_VALUE', 'grid ' .. grid .. ' is in community ' .. g.community .. ', not ' .. community)
    end
    community = g.community
  elseif level ~= 'STREET' then
    if not communities(P)[community] then
      return fail('BAD_VALUE', 'a ' .. MT.LEVELS[level] .. ' needs a community of the directory, not "' .. community .. '"')
    end
    grid = ''
  else
    community, grid = '', ''
  end
  local refused = area_refusal(a[10], community, 'the meeting')
  if refused then return refused end
  local agenda, matters = agenda_matters(P, a[8], { level = level, community = community,
                                                    grid = grid }, 0)
  if not agenda then return matters end
  local now = now_ms()
  local street = dir_street(P)
  local day = ymd(math.floor((now + street.offset * 60000) / 86400000))
  local id = string.format('%s-H%s-%03d', street.code, day, redis.call('INCR', P .. 'seq:meeting:' .. day))
  redis.call('HSET', P .. 'meeting:' .. id, 'level', level, 'community', community, 'grid', grid,
             'venue', venue, 'at', I(at), 'agenda', cjson.encode(agenda), 'by', who, 'created', I(now))
  redis.call('ZADD', P .. 'idx:meetings', I(at), id)
  agenda_log(P, matters, { id = id, level = level, venue = venue, at = at }, who, a[11])
  redis.call('SET', ikey, id, 'EX', '604800')
  return ok({ matter_id = id, stage = '', step = '', duplicate = false })
end
redis.register_function('gc_meeting_schedule', meeting_schedule)
end

do
-- meeting_agenda(P, meeting, agenda_json, who, area, by): more matters on
-- a scheduled meeting's agenda, before it is held; one already on it is
-- left as it is (a retry).
local function meeting_agenda(keys, a)
  local P, meeting_id, who = a[1], a[2], a[4] or ''
  local mt = hgetall(P .. 'meeting:' .. meeting_id)
  if not mt then return fail('BAD_VALUE', 'no meeting ' .. meeting_id) end
  mt.id = meeting_id
  local refused = area_refusal(a[5], mt.community, 'meeting ' .. meeting_id)
  if refused then return refused end
  if mt.held then
    return fail('WRONG_STATE', 'meeting ' .. meeting_id .. ' has been held: its agenda is closed')
  end
  local have = cjson.decode(mt.agenda or '[]')
  local on = {}
  for _, id in ipairs(have) do on[id] = true end
  local wanted = {}
  for _, id in ipairs(list_arg(a[3], MT.AGENDA_MAX) or {}) do
    if not on[id] then table.insert(wanted, id); on[id] = true end
  end
  local agenda, matters = agenda_matters(P, cjson.encode(wanted), mt, #have)
  if not agenda then return matters end
  for _, id in ipairs(agenda) do table.insert(have, id) end
  redis.call('HSET', P .. 'meeting:' .. meeting_id, 'agenda', cjson.encode(have))
  agenda_log(P, matters, mt, who, a[6])
  return ok({ matter_id = meeting_id, stage = '', step = '', duplicate = #matters == 0 })
end
redis.register_function('gc_meeting_agenda', meeting_agenda)
end

-- The meeting a record or a vote is taken at: it must have the matter on
-- its agenda and have begun (case time). Returns the meeting hash or nil
-- and the refusal.
local function meeting_for(P, m, meeting_id, scale, what)
  local mt = hgetall(P .. 'meeting:' .. meeting_id)
  if not mt then return nil, fail('BAD_VALUE', 'no meeting ' .. meeting_id) end
  local on = false
  for _, id in ipairs(cjson.decode(mt.agenda or '[]')) do if id == m.id then on = true end end
  if not on then
    return nil, fail('BAD_VALUE', what .. ' of matter ' .. m.id .. ' is taken at a meeting that has it on '
                     .. 'its agenda; meeting ' .. meeting_id .. ' has not')
  end
  if to_case(P, m._now, scale) < tonumber(mt.at) then
    return nil, fail('WRONG_STATE', 'meeting ' .. meeting_id .. ' is at ' .. fmt_case_time(P, tonumber(mt.at))
                     .. ': ' .. what .. ' cannot be recorded before it')
  end
  mt.id = meeting_id
  return mt
end

do
-- deliberate(P, matter, meeting, participants_json, opinions_json,
-- minutes, who, area, by, scale): 议 at a meeting of the step's level.
local function deliberate(keys, a)
  local P, who, scale = a[1], a[7] or '', tonumber(a[10]) or 1
  local m, refused = matter_for(P, a[2], a[8], a[9])
  if not m then return refused end
  local mt, refusal = meeting_for(P, m, a[3], scale, 'the deliberation')
  if not mt then return refusal end
  local recorded = redis.call('HGET', P .. 'meeting:' .. mt.id, 'record:' .. m.id)
  if recorded then return matter_reply(P, m, { duplicate = true }) end
  local s, i = step_due(P, m, 'deliberate', mt.level,
                             'a deliberation at the ' .. MT.LEVELS[mt.level] .. ' ' .. mt.id)
  if not s then return fail('WRONG_STATE', i) end
  local participants, opinions = list_arg(a[4], 200), list_arg(a[5], 100)
  if not participants or not opinions then return fail('BAD_VALUE', 'participants or opinions are not lists') end
  m.step = i + 1
  m.stage = 'DELIBERATE'
  local record = { meeting = mt.id, level = mt.level, participants = participants,
                   opinions = opinions, minutes = a[6] }
  redis.call('HSET', P .. 'meeting:' .. mt.id, 'record:' .. m.id, cjson.encode(record), 'held', I(m._now))
  matter_log(P, m, 'deliberated', who, MT.LEVELS[mt.level] .. ' at ' .. (mt.venue or '') .. ': ' .. a[6],
             record, { 'matter.deliberated', 'grid:' .. m.grid })
  matter_save(P, m, {})
  return matter_reply(P, m, { duplicate = false })
end
redis.register_function('gc_matter_deliberate', deliberate)
end

do
-- notice(P, matter, options_json, note, who, area, by, scale): the
-- options go to public notice (公示) for the step's notice_hours of case
-- time; the vote waits for its end.
local function notice(keys, a)
  local P, who, scale = a[1], a[5] or '', tonumber(a[8]) or 1
  local m, refused = matter_for(P, a[2], a[6], a[7])
  if not m then return refused end
  local options = list_arg(a[3], MT.OPTIONS_MAX)
  if not options or #options == 0 then return fail('BAD_VALUE', 'a notice needs 1..' .. MT.OPTIONS_MAX .. ' options') end
  local seen = {}
  for _, o in ipairs(options) do
    if type(o) ~= 'string' or o == '' or o == 'against' or seen[o] then
      return fail('BAD_VALUE', 'options must be distinct, non-empty and not "against"')
    end
    seen[o] = true
  end
  if m.options and m.options ~= '' and m.options == cjson.encode(options)
  and m.stage == 'DECIDE' then
    return matter_reply(P, m, { duplicate = true })
  end
  local s, i = step_due(P, m, 'notice', nil, 'a public notice')
  if not s then return fail('WRONG_STATE', i) end
  local from = to_case(P, m._now, scale)
  m.notice_until = from + math.floor(s.notice_hours * 3600000)
  m.options = cjson.encode(options)
  m.step = i + 1
  m.stage = 'DECIDE'
  matter_log(P, m, 'noticed', who, table.concat(options, ' / ') .. ' on public notice until '
             .. fmt_case_time(P, m.notice_until) .. ' (' .. s.notice_hours .. ' h)'
             .. ((a[4] or '') ~= '' and (': ' .. a[4]) or ''),
             { options = options, notice_until = m.notice_until },
             { 'matter.noticed', 'grid:' .. m.grid })
  matter_save(P, m, { 'notice_until', 'options' })
  return matter_reply(P, m, { duplicate = false })
end
redis.register_function('gc_matter_notice', notice)
end

local function pct(x) return string.format('%.1f%%', x * 100) end

do
-- vote(P, matter, meeting, eligible, tallies_json, abstained, note, who,
-- area, by, scale): 定. The tally is judged by the step's rule: quorum
-- (cast / eligible) and majority (the leading option's share of the votes
-- cast). A failed vote is recorded and the matter waits for another.
local function vote(keys, a)
  local P, who, scale = a[1], a[8] or '', tonumber(a[11]) or 1
  local m, refused = matter_for(P, a[2], a[9], a[10])
  if not m then return refused end
  local mt, refusal = meeting_for(P, m, a[3], scale, 'the vote')
  if not mt then return refusal end
  -- one vote a meeting: the same tally again is a retry (its answer was
  -- lost), another is refused; a vote that failed is retaken at a new meeting
  local ballot = cjson.encode({ tonumber(a[4]) or 0, a[5] or '', tonumber(a[6]) or 0 })
  local taken = redis.call('HGET', P .. 'meeting:' .. mt.id, 'vote:' .. m.id)
  if taken then
    local prev = cjson.decode(taken)
    if prev.ballot ~= ballot then
      return fail('WRONG_STATE', 'matter ' .. m.id .. ' was voted on at meeting ' .. mt.id
                  .. ' already: a new vote is taken at a new meeting')
    end
    return matter_reply(P, m, { duplicate = true, result = prev.result })
  end
  local s, i = step_due(P, m, 'vote', mt.level, 'a vote at the ' .. MT.LEVELS[mt.level] .. ' ' .. mt.id)
  if not s then return fail('WRONG_STATE', i) end
  local case_now = to_case(P, m._now, scale)
  if case_now < (tonumber(m.notice_until) or 0) then
    return fail('WRONG_STATE', 'the public notice of matter ' .. m.id .. ' runs until '
                .. fmt_case_time(P, tonumber(m.notice_until)) .. ': the vote may be taken from then')
  end
  local eligible, abstained = tonumber(a[4]) or 0, tonumber(a[6]) or 0
  local tallies = list_arg(a[5], MT.OPTIONS_MAX + 1)
  if eligible < 1 or not tallies or #tallies == 0 then
    return fail('BAD_VALUE', 'a vote needs the number eligible and one tally per option')
  end
  local options = {}
  for _, o in ipairs(cjson.decode(m.options or '[]')) do options[o] = true end
  local cast, lead, lead_n, against, counted = abstained, nil, -1, 0, {}
  for _, t in ipairs(tallies) do
    local o, n = t[1], tonumber(t[2]) or 0
    if o ~= 'against' and not options[o] then
      return fail('BAD_VALUE', 'option "' .. tostring(o) .. '" was not on public notice')
    end
    if counted[o] then return fail('BAD_VALUE', 'option "' .. o .. '" is tallied twice') end
    counted[o] = true
    cast = cast + n
    if o == 'against' then against = n
    elseif n > lead_n then lead, lead_n = o, n end
  end
  if cast > eligible then
    return fail('BAD_VALUE', cast .. ' votes cast of ' .. eligible .. ' eligible')
  end
  m.votes_n = (tonumber(m.votes_n) or 0) + 1
  local turnout = cast / eligible
  local share = cast > 0 and math.max(lead_n, 0) / cast or 0
  local rule = 'quorum ' .. pct(s.quorum) .. ', majority ' .. pct(s.majority) .. ' of votes cast'
  local why
  if turnout < s.quorum then
    why = 'quorum not met: ' .. cast .. ' of ' .. eligible .. ' voted (' .. pct(turnout) .. ')'
  elseif not lead or share < s.majority or lead_n <= against then
    why = 'no majority: ' .. (lead or 'no option') .. ' had ' .. math.max(lead_n, 0) .. ' of '
          .. cast .. ' (' .. pct(share) .. ')'
  end
  local record = { meeting = mt.id, eligible = eligible, tallies = tallies, abstained = abstained,
                   cast = cast, turnout = turnout, rule = rule }
  local result
  local why_note = (a[7] or '') ~= '' and ('; ' .. a[7]) or ''
  if why then
    result = 'failed: ' .. why .. '; the rule: ' .. rule
    record.passed = false
    matter_log(P, m, 'vote_failed', who, result .. why_note, record,
               { 'matter.vote_failed', 'grid:' .. m.grid })
  else
    result = 'passed: ' .. lead .. ' with ' .. lead_n .. ' of ' .. cast .. ' votes cast (' .. pct(share)
             .. '), ' .. cast .. ' of ' .. eligible .. ' voted (' .. pct(turnout) .. '); the rule: ' .. rule
    record.passed = true
    m.decision = lead
    m.step = i + 1
    m.stage = 'DECIDE'
    matter_log(P, m, 'decided', who, result .. why_note, record, { 'matter.decided', 'grid:' .. m.grid })
  end
  redis.call('HSET', P .. 'meeting:' .. mt.id, 'vote:' .. m.id,
             cjson.encode({ ballot = ballot, result = result }), 'held', I(m._now))
  matter_save(P, m, { 'votes_n', 'decision' })
  return matter_reply(P, m, { duplicate = false, result = result })
end
redis.register_function('gc_matter_vote', vote)
end

do
-- tasks(P, matter, tasks_json, who, area, by, scale, idem_ttl): 办. Each
-- task [key, category, text, grid] becomes a case registered as a report
-- is (register: offered at once to a ready unit, else queued for
-- dispatch), linked to the matter. Tasks already made are not made again.
local function tasks(keys, a)
  local P, who, scale = a[1], a[4] or '', a[7] or '1'
  local m, refused = matter_for(P, a[2], a[5], a[6])
  if not m then return refused end
  local list = list_arg(a[3], MT.TASKS_MAX)
  if not list or #list == 0 then return fail('BAD_VALUE', 'a decision needs 1..' .. MT.TASKS_MAX .. ' tasks') end
  local made = hgetall(P .. 'matter:' .. m.id .. ':tasks') or {}
  if next(made) then
    local ids = {}
    for _, t in ipairs(list) do
      if not made[t[1]] then return fail('WRONG_STATE', 'matter ' .. m.id .. ' already has its tasks') end
      table.insert(ids, made[t[1]])
    end
    return matter_reply(P, m, { duplicate = true, case_ids = ids })
  end
  local s, i = step_due(P, m, 'tasks', nil, 'carrying out (tasks)')
  if not s then return fail('WRONG_STATE', i) end
  -- every task checked before the first is registered: a function's
  -- writes are not undone by a later failure
  local seen = {}
  for n, t in ipairs(list) do
    local key, category, grid = t[1], t[2], (t[4] or '') ~= '' and t[4] or m.grid
    if seen[key] then return fail('BAD_VALUE', 'task ' .. tostring(key) .. ' appears twice') end
    seen[key] = true
    if not dir_cat(P, category) then
      return fail('UNKNOWN_CATEGORY', 'task ' .. key .. ': category "' .. category .. '" is not in the directory')
    end
    local g = dir_grid(P, grid)
    if not g then return fail('UNKNOWN_GRID', 'task ' .. key .. ': grid "' .. grid .. '" is not in the directory') end
    if g.community ~= m.community then
      return fail('BAD_VALUE', 'task ' .. key .. ': grid ' .. grid .. ' is outside community ' .. m.community)
    end
    t[4] = grid
    list[n] = t
  end
  local out, ids, jobs, infos, notes, cases = {}, {}, {}, {}, {}, {}
  for _, t in ipairs(list) do
    local r = cjson.decode(register(keys, { P, m.id .. '.' .. t[1], t[4], t[2], t[3], 'OPERATOR', m.id,
                                            '', '', scale, a[8] or '86400', who, '' }))
    if not r.ok then
      return fail(r.code or 'INTERNAL', 'task ' .. t[1] .. ': ' .. (r.message or 'not registered'))
    end
    redis.call('HSET', P .. 'case:' .. r.case_id, 'matter', m.id, 'task', t[1])
    redis.call('HSET', P .. 'matter:' .. m.id .. ':tasks', t[1], r.case_id)
    local c = load_case(P, r.case_id)
    c._by = a[6]
    log_event(P, c, 'task_of', who, 'task ' .. t[1] .. ' of matter ' .. m.id .. ' (' .. m.title .. ')',
              { matter = m.id })
    for j, id in ipairs(r.jobs or {}) do table.insert(jobs, id); table.insert(infos, r.job_info[j]) end
    for id, x in pairs(r.job_cases or {}) do cases[id] = x end
    table.insert(out, { case_id = r.case_id, offers = r.offers, grid = r.grid, category = r.category,
                        version = r.version, state = r.state, tier = r.tier, waiting = r.waiting })
    table.insert(ids, r.case_id)
    table.insert(notes, t[1] .. ' ' .. r.case_id .. ' (' .. t[2] .. ')')
  end
  m.tasks_n = #list
  m.tasks_done = 0
  m.step = i + 1
  m.stage = 'CARRY_OUT'
  matter_log(P, m, 'tasks', who, #list .. ' tasks: ' .. table.concat(notes, ', '), { cases = ids },
             { 'matter.carrying_out', 'grid:' .. m.grid })
  matter_save(P, m, { 'tasks_n', 'tasks_done' })
  return matter_reply(P, m, { duplicate = false, case_ids = ids, tasks = out, jobs = jobs, job_info = infos,
                              job_cases = cases })
end
redis.register_function('gc_matter_tasks', tasks)
end

-- The tasks of a matter not yet closed, as "key (case STATE)".
local function tasks_open(P, m)
  local open = {}
  local made = hgetall(P .. 'matter:' .. m.id .. ':tasks') or {}
  for key, id in pairs(made) do
    local st = redis.call('HGET', P .. 'case:' .. id, 'state')
    if st ~= 'CLOSED' and not TASK_NOT_DONE[st] then table.insert(open, key .. ' (case ' .. id .. ' ' .. tostring(st) .. ')') end
  end
  table.sort(open)
  return open
end

-- The residents' channels (proto Channel): a matter that came through one
-- is evaluated through it; one proposed by an operator, grid worker or
-- unit (OPERATOR, GRID_WORKER, none) through the residents' app, the
-- 请你来协商 platform.
local RESIDENT_CHANNELS = { RESIDENT_APP = true, HOTLINE = true, SERVICE_CARD = true, OPEN311 = true }

local function eval_channel(m)
  return RESIDENT_CHANNELS[m.channel or ''] and m.channel or 'RESIDENT_APP'
end

do
-- evaluate(P, matter, score, comment, resident, who, channels): 评, one
-- per resident, once every task is done, through a gateway carrying the
-- matter's evaluation channel (channels: the sender's, auth_channels;
-- "*" for admin).
local function matter_evaluate(keys, a)
  local P, score, resident, who = a[1], tonumber(a[3]), a[5] or '', a[6] or ''
  local m = matter_load(P, a[2])
  if not m then return unknown_matter(a[2]) end
  local chan, have = eval_channel(m), a[7] or ''
  if have ~= '*' and not string.find(',' .. have .. ',', ',' .. chan .. ',', 1, true) then
    return fail('NOT_PERMITTED', 'matter ' .. m.id .. ' (community ' .. (m.community or '?')
                .. ') is evaluated through channel ' .. chan .. ', which ' .. who
                .. ' does not carry (' .. (have ~= '' and have or 'no channels') .. ')')
  end
  m._by = resident
  local had = redis.call('HGET', P .. 'matter:' .. m.id .. ':evals', resident)
  if had then
    if tonumber(had) == score then return matter_reply(P, m, { duplicate = true }) end
    return fail('WRONG_STATE', resident .. ' has already evaluated matter ' .. m.id)
  end
  local s, i = step_due(P, m, 'evaluate', nil, 'an evaluation')
  if not s then return fail('WRONG_STATE', i) end
  if m.stage ~= 'EVALUATE' then
    return fail('WRONG_STATE', 'matter ' .. m.id .. ' is evaluated when its tasks are done; open: '
                .. table.concat(tasks_open(P, m), ', '))
  end
  redis.call('HSET', P .. 'matter:' .. m.id .. ':evals', resident, I(score))
  m.eval_n = (tonumber(m.eval_n) or 0) + 1
  m.eval_sum = (tonumber(m.eval_sum) or 0) + score
  matter_log(P, m, 'evaluated', who, score .. '/5' .. ((a[4] or '') ~= '' and (': ' .. a[4]) or ''),
             { score = score })
  matter_save(P, m, { 'eval_n', 'eval_sum' })
  return matter_reply(P, m, { duplicate = false })
end
redis.register_function('gc_matter_evaluate', matter_evaluate)
end

do
-- close(P, matter, note, who, area, by): the evaluation ends; its result
-- is published (the screen, and notify to gateways: matter.result).
local function matter_close(keys, a)
  local P, who = a[1], a[4] or ''
  local m, refused = matter_for(P, a[2], a[5], a[6])
  if not m then return refused end
  if m.stage == 'DONE' then return matter_reply(P, m, { duplicate = true, result = m.result }) end
  local s, i = step_due(P, m, 'evaluate', nil, 'closing the evaluation')
  if not s then return fail('WRONG_STATE', i) end
  local n = tonumber(m.eval_n) or 0
  if m.stage ~= 'EVALUATE' or n < (s.min_evaluations or 1) then
    return fail('WRONG_STATE', 'matter ' .. m.id .. ' has ' .. n .. ' evaluations of the '
                .. (s.min_evaluations or 1) .. ' its template needs'
                .. (m.stage ~= 'EVALUATE' and ', and open tasks' or ''))
  end
  m.result = string.format('satisfaction %.1f/5 from %d residents', (tonumber(m.eval_sum) or 0) / n, n)
  if (m.not_done or '') ~= '' then m.result = m.result .. '; not carried out: ' .. m.not_done end
  m.step = i + 1
  m.stage = 'DONE'
  m.closed = m._now
  matter_log(P, m, 'result', who, m.result .. ((a[3] or '') ~= '' and ('; ' .. a[3]) or ''), nil,
             { 'matter.result', 'grid:' .. m.grid })
  matter_save(P, m, { 'result', 'closed' })
  return matter_reply(P, m, { duplicate = false, result = m.result })
end
redis.register_function('gc_matter_close', matter_close)
end

-- The matter as readers see it: its fields, steps (done or not), tasks
-- and their cases' state, meetings.
local function matter_view(P, m, with_log)
  local steps = {}
  for i, s in ipairs(matter_steps(P, m)) do
    table.insert(steps, { id = s.id, name = s.name, kind = s.kind, level = s.level,
                          done = i < (tonumber(m.step) or 1) })
  end
  m.steps = steps
  local t = {}
  for key, id in pairs(hgetall(P .. 'matter:' .. m.id .. ':tasks') or {}) do
    local h = redis.call('HMGET', P .. 'case:' .. id, 'state', 'tier', 'unit', 'category')
    table.insert(t, { key = key, case_id = id, state = h[1], tier = tonumber(h[2]), unit = h[3] or '',
                      category = h[4] })
  end
  table.sort(t, function(x, y) return x.key < y.key end)
  m.tasks = t
  m.meetings = redis.call('SMEMBERS', P .. 'matter:' .. m.id .. ':meetings')
  table.sort(m.meetings)
  if with_log then
    local log, prev = {}, nil
    for i, text in ipairs(redis.call('LRANGE', P .. 'matter:' .. m.id .. ':log', 0, -1)) do
      local ev = event_decode(text, prev)
      if ev then prev = ev; ev.stage = ev.state; ev.state = nil; ev.tier = nil; ev.unit = nil end
      log[i] = ev or text
    end
    m.timeline = log
  end
  m._now = nil; m._by = nil
  return m
end

do
-- matter_get(P, id): one matter with its timeline.
local function matter_get(keys, a)
  local m = matter_load(a[1], a[2])
  if not m then return unknown_matter(a[2]) end
  return ok({ matter = matter_view(a[1], m, true) })
end
redis.register_function{ function_name = 'gc_matter_get', callback = matter_get, flags = { 'no-writes' } }
end

do
-- matters(P, max, from_ms): the board: the newest max matters by stage
-- (提 议 定 办 评, and DONE), and meetings from from_ms (case time; "now":
-- two hours of case time ago) on, soonest first, with their agendas' titles.
local function matters(keys, a)
  local P = a[1]
  local max = math.min(tonumber(a[2]) or 200, MT.BOARD_MAX)
  local board = {}
  for _, s in ipairs(MT.MATTER_STAGES) do board[s] = {} end
  for _, id in ipairs(redis.call('ZREVRANGE', P .. 'idx:matters', 0, max - 1)) do
    local m = matter_load(P, id)
    if m then
      local v = matter_view(P, m, false)
      local s = v.steps[tonumber(m.step) or 1]
      table.insert(board[m.stage] or board.PROPOSE, {
        matter_id = id, title = m.title, template = m.template, grid = m.grid,
        community = m.community, created = tonumber(m.created), next_step = s and s.name or '',
        tasks_n = tonumber(m.tasks_n) or 0, tasks_done = tonumber(m.tasks_done) or 0,
        result = m.result or '', decision = m.decision or '', eval_n = tonumber(m.eval_n) or 0 })
    end
  end
  local from = tonumber(a[3])
  if a[3] == 'now' then
    -- case time read from the clock's anchor (05_clock), without writing
    local h = redis.call('HMGET', P .. 'clock', 'wall', 'case', 'scale')
    local now = now_ms()
    from = (h[1] and (tonumber(h[2]) + (now - tonumber(h[1])) * tonumber(h[3])) or now) - 7200000
  end
  local meetings = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'idx:meetings', I(math.floor(from or 0)), '+inf',
                                 'LIMIT', 0, 50)) do
    local mt = hgetall(P .. 'meeting:' .. id)
    if mt then
      local agenda = {}
      for _, mid in ipairs(cjson.decode(mt.agenda or '[]')) do
        table.insert(agenda, { matter_id = mid, title = redis.call('HGET', P .. 'matter:' .. mid, 'title') or '' })
      end
      table.insert(meetings, { meeting_id = id, level = mt.level, level_name = MT.LEVELS[mt.level],
                               community = mt.community, grid = mt.grid, venue = mt.venue,
                               at = tonumber(mt.at), held = mt.held ~= nil, agenda = agenda })
    end
  end
  local tpls = redis.call('SMEMBERS', P .. 'mtpls')
  table.sort(tpls)
  return ok({ stages = MT.MATTER_STAGES, board = board, meetings = meetings, templates = tpls,
              levels = MT.LEVEL_ORDER, count = redis.call('ZCARD', P .. 'idx:matters'),
              utc_offset_minutes = tonumber(redis.call('HGET', P .. 'dir:street',
                                                       'utc_offset_minutes')) or 0 })
end
redis.register_function{ function_name = 'gc_matters', callback = matters, flags = { 'no-writes' } }
end

do
-- templates(P): the loaded templates, current versions.
local function templates(keys, a)
  local out = {}
  local codes = redis.call('SMEMBERS', a[1] .. 'mtpls')
  table.sort(codes)
  for _, code in ipairs(codes) do table.insert(out, template_of(a[1], code)) end
  return ok({ templates = out })
end
redis.register_function{ function_name = 'gc_matter_templates', callback = templates, flags = { 'no-writes' } }
end


end
