-- Matters (75_matters.lua) and the cases that are their tasks: a matter's
-- timeline, and what a task case's resolution, climb and closing write to
-- its matter. These sit before 10_dispatch.lua because the case
-- transitions call them (a Lua local is seen only by the code after it);
-- they use 00_core alone. The matter transitions are in 75_matters.lua.
--
-- Keys: matter:{id} hash, matter:{id}:log list (entries shaped like a
-- case's, so 00_core event_decode and 40_notify job_read read them),
-- matter:{id}:tasks hash task key -> case id.

-- A matter's id: '<street code>-M<day>-<seq>'; a case's has a digit there.
local function matter_id_p(id)
  return string.match(id or '', '^[^-]*%-M%d') ~= nil
end

-- A matter's hash with its id and the call's time, or nil.
local function matter_load(P, id)
  if not matter_id_p(id) then return nil end
  local m = hgetall(P .. 'matter:' .. id)
  if not m then return nil end
  m.id = id
  m._now = now_ms()
  return m
end

-- Append one entry to the matter's timeline: [at, what, who, stage, 0,
-- '', 0, note, version, extra]. job { event, audience } queues a
-- notification of the entry (notify reads it as it reads a case's); the
-- jobs of a call collect in m._q for its reply (matter_reply).
local function matter_log(P, m, what, who, note, extra, job)
  extra = extra or {}
  if (m._by or '') ~= '' then extra.by = m._by end
  if job then extra.job = job end
  local ev = { m._now, what, who or '', m.stage or '', 0, '', 0, note or '',
               tonumber(m.version) or 0 }
  if next(extra) ~= nil then ev[10] = extra end
  local n = redis.call('RPUSH', P .. 'matter:' .. m.id .. ':log', cjson.encode(ev))
  -- announced on the event stream as a case's entries are (m instead of
  -- c: 00_core stream_events), for the screen's ticker and the live feed
  redis.call('XADD', P .. 'events', '*', 'm', m.id, 'n', I(n))
  if job then
    m._q = m._q or { id = m.id, ledger = m.id, tier = 0, unit = '' }
    local q = m._q
    q.grid, q.category, q.state, q._now = m.grid, m.template, m.stage, m._now
    queue_job(P, q, n, job, note)
  end
  return n
end

-- Write the matter's fields (and its version + 1) in one HSET.
local function matter_save(P, m, fields)
  m.version = (tonumber(m.version) or 0) + 1
  local args = { 'version', I(m.version), 'stage', m.stage or '', 'step', I(tonumber(m.step) or 1) }
  for _, f in ipairs(fields or {}) do
    table.insert(args, f); table.insert(args, m[f] == nil and '' or I(m[f]))
  end
  redis.call('HSET', P .. 'matter:' .. m.id, unpack(args))
end

-- Task case c (c.matter set) had an event worth the matter's timeline
-- (what: task_resolved, task_escalated); note says what.
local function matter_task_event(P, c, what, who, note)
  local m = matter_load(P, c.matter)
  if not m then return end
  matter_log(P, m, what, who, 'task ' .. (c.task or '?') .. ' (case ' .. c.id .. '): ' .. (note or ''),
             { case = c.id, case_tier = tonumber(c.tier) })
end

-- How each task stands once settled: matter:{id}:settled hash, task key ->
-- 'closed' (carried out), or 'parked', 'rejected', 'merged' (not carried
-- out: the case left the chain without being done). When every task is
-- settled the matter moves on to evaluation (评), its note naming the
-- tasks not carried out.
local TASK_NOT_DONE = { PARKED = 'parked', REJECTED = 'rejected', MERGED = 'merged' }

local function matter_tasks_settle(P, m, who)
  local settled = hgetall(P .. 'matter:' .. m.id .. ':settled') or {}
  local n, missed = 0, {}
  for key, how in pairs(settled) do
    n = n + 1
    if how ~= 'closed' then table.insert(missed, key .. ' (' .. how .. ')') end
  end
  table.sort(missed)
  m.tasks_dropped = #missed
  m.not_done = table.concat(missed, ', ')
  if n >= (tonumber(m.tasks_n) or 0) and m.stage == 'CARRY_OUT' then
    m.stage = 'EVALUATE'
    matter_log(P, m, 'tasks_done', who, #missed == 0 and 'every task is done: residents evaluate'
               or ('every task is settled, not carried out: ' .. m.not_done .. '; residents evaluate'),
               #missed > 0 and { not_done = missed } or nil,
               { 'matter.evaluating', 'grid:' .. (m.grid or '') })
  end
end

-- Task case c (c.matter set) closed: the matter counts it, and when every
-- task is settled it moves on to evaluation (评).
local function matter_task_closed(P, c, who)
  local m = matter_load(P, c.matter)
  if not m then return end
  local k = P .. 'matter:' .. m.id .. ':settled'
  local was = redis.call('HGET', k, c.task or '?')
  redis.call('HSET', k, c.task or '?', 'closed')
  m.tasks_done = (tonumber(m.tasks_done) or 0) + 1
  matter_log(P, m, 'task_done', who, 'task ' .. (c.task or '?') .. ' (case ' .. c.id .. ') closed'
             .. (was and was ~= 'closed' and (', after it was ' .. was) or ''), { case = c.id })
  matter_tasks_settle(P, m, who)
  matter_save(P, m, { 'tasks_done', 'tasks_dropped', 'not_done' })
end

-- Task case c (c.matter set) left the chain undone: parked, rejected (an
-- order declined) or merged into another case (state, its new state). It
-- counts as not carried out; the matter moves on when every task is
-- settled. A parked task that comes back before then (matter_task_back)
-- counts as open again.
local function matter_task_dropped(P, c, who, note)
  local m = matter_load(P, c.matter)
  local how = TASK_NOT_DONE[c.state]
  if not m or not how then return end
  redis.call('HSET', P .. 'matter:' .. m.id .. ':settled', c.task or '?', how)
  matter_log(P, m, 'task_dropped', who, 'task ' .. (c.task or '?') .. ' (case ' .. c.id .. ') '
             .. how .. ', not carried out' .. ((note or '') ~= '' and (': ' .. note) or ''),
             { case = c.id, outcome = how })
  matter_tasks_settle(P, m, who)
  matter_save(P, m, { 'tasks_dropped', 'not_done' })
end

-- A parked task case came back: open again while its matter is carrying
-- out; once the matter has moved on, only its timeline hears of it.
local function matter_task_back(P, c, who, note)
  local m = matter_load(P, c.matter)
  if not m then return end
  if m.stage == 'CARRY_OUT' then
    redis.call('HDEL', P .. 'matter:' .. m.id .. ':settled', c.task or '?')
    matter_tasks_settle(P, m, who)
    matter_save(P, m, { 'tasks_dropped', 'not_done' })
  end
  matter_log(P, m, 'task_back', who, 'task ' .. (c.task or '?') .. ' (case ' .. c.id .. ') is back: '
             .. (note or '') .. (m.stage == 'CARRY_OUT' and '' or ('; the matter is at ' .. m.stage)),
             { case = c.id })
end
