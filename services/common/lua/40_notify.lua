-- Notification jobs. A job is the timeline entry it notifies of: its id
-- is '<case>:<entry number>', pending:notify holds the ids of jobs to
-- deliver, and the entry's extra.job holds [event, audience, note?]
-- (00_core log_event). So queuing a job is one ZADD and the event is
-- written once. notify:tries holds 'attempts|done-mask' of jobs whose
-- delivery failed at least once.

-- The job id's case and entry number, or nil.
local function job_split(id)
  local case_id, n = string.match(id or '', '^(.+):(%d+)$')
  return case_id, tonumber(n)
end

-- The job as notify reads it (event, case, grid, ... attempts, done), or
-- nil when the case, its entry or the entry's job is gone.
local function job_read(P, id)
  local case_id, n = job_split(id)
  if not case_id then return nil end
  -- a matter's entry (09_matter_link.lua): the same shape, its template
  -- in the category's place
  local matter = matter_id_p(case_id)
  local base = P .. (matter and 'matter:' or 'case:') .. case_id
  local text
  if matter then text = redis.call('LINDEX', base .. ':log', n - 1)
  else text = tl_get(P, case_id, n, n)[1] end
  if not text then return nil end
  local h = redis.call('HMGET', base, 'grid', matter and 'template' or 'category', 'via', 'followers',
                       'created', 'channel')
  local ev, job = event_decode(text, nil, h[5], h[6])
  if not ev or not job then return nil end
  job = job_expand(job, ev.what, h[1], case_id)
  if type(job) ~= 'table' or not job[1] then return nil end
  local tries = redis.call('HGET', P .. 'notify:tries', id) or ''
  local attempts, done = string.match(tries, '^(%d+)|(.*)$')
  return { id = id, event = job[1], audience = job[2] or '', note = job[3] or ev.note or '',
           case = case_id, grid = h[1] or '', category = h[2] or '', tier = ev.tier,
           state = ev.state, unit = ev.unit or '', at = ev.at,
           attempts = tonumber(attempts) or 0, done = done or '', via = h[3] or '',
           followers = h[4] or '' }
end

-- job_get(P, job_id): one notification job.
local function job_get(keys, a)
  local j = job_read(a[1], a[2])
  if not j then return fail('UNKNOWN_JOB', 'no job ' .. a[2]) end
  return ok(j)
end

-- jobs_get(P, job_id...): the jobs a wake-up named, shaped like job_get
-- replies; jobs that are gone or done are left out. No lease: a new job
-- is not due for a sweep before the grace notify set (gc_notify_grace).
local function jobs_get(keys, a)
  local P = a[1]
  local jobs = {}
  for i = 2, #a do
    if redis.call('ZSCORE', P .. 'pending:notify', a[i]) then
      local j = job_read(P, a[i])
      if j then j.ok = true; table.insert(jobs, j) end
    end
  end
  return ok({ jobs = jobs })
end

-- notify_grace(P, ms): how long a new job waits for its wake-up before a
-- sweep may claim it (notify's lease).
local function notify_grace(keys, a)
  local ms = tonumber(a[2])
  if not ms or ms < 0 then return fail('BAD_VALUE', 'grace must be a number of ms') end
  redis.call('SET', a[1] .. 'cfg:job_grace', I(math.floor(ms)))
  job_grace(a[1], math.floor(ms))
  return ok({ grace = math.floor(ms) })
end

-- job_claim(P, lease_ms, max): lease due jobs of pending:notify and return
-- them whole, each shaped like a job_get reply, in one call. A pending id
-- whose job is gone is dropped.
local function job_claim(keys, a)
  local P, key = a[1], a[1] .. 'pending:notify'
  local now = now_ms()
  local jobs = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(a[3]))) do
    local j = job_read(P, id)
    if j then
      redis.call('ZADD', key, 'XX', now + tonumber(a[2]), id)
      j.ok = true
      table.insert(jobs, j)
    else
      redis.call('ZREM', key, id)
      redis.call('HDEL', P .. 'notify:tries', id)
    end
  end
  return ok({ jobs = jobs, now = now })
end

-- jobs_done(P, job_id...): these jobs reached every target.
local function jobs_done(keys, a)
  local P = a[1]
  local ids = {}
  for i = 2, #a do ids[#ids + 1] = a[i] end
  if #ids == 0 then return ok({ done = 0 }) end
  local n = redis.call('ZREM', P .. 'pending:notify', unpack(ids))
  redis.call('HDEL', P .. 'notify:tries', unpack(ids))
  if n > 0 then total(P, 'notified', n) end
  return ok({ done = n })
end

-- job_done(P, job_id, done_mask, retry_ms, max_attempts): done_mask names
-- the targets delivered so far; retry_ms 0 means every target is done.
local function job_done(keys, a)
  local P, id = a[1], a[2]
  local key = P .. 'pending:notify'
  if not redis.call('ZSCORE', key, id) then return ok({ gone = true }) end
  if tonumber(a[4]) == 0 then
    redis.call('ZREM', key, id)
    redis.call('HDEL', P .. 'notify:tries', id)
    total(P, 'notified')
    return ok({ done = true })
  end
  local tries = redis.call('HGET', P .. 'notify:tries', id) or ''
  local attempts = (tonumber(string.match(tries, '^(%d+)|')) or 0) + 1
  redis.call('HSET', P .. 'notify:tries', id, attempts .. '|' .. a[3])
  if attempts >= tonumber(a[5]) then
    redis.call('ZREM', key, id)
    redis.call('ZADD', P .. 'dead:notify', now_ms(), id)
    total(P, 'notify_dead')
    return ok({ dead = true, attempts = attempts })
  end
  redis.call('ZADD', key, now_ms() + tonumber(a[4]), id)
  return ok({ retry = true, attempts = attempts })
end

redis.register_function('gc_job_done', job_done)
redis.register_function('gc_jobs_done', jobs_done)
redis.register_function('gc_job_claim', job_claim)
redis.register_function('gc_notify_grace', notify_grace)
redis.register_function{ function_name = 'gc_jobs_get', callback = jobs_get, flags = { 'no-writes' } }
redis.register_function{ function_name = 'gc_job_get', callback = job_get, flags = { 'no-writes' } }
