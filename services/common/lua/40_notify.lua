-- Notification jobs.

-- job_get(P, job_id): a notification job (event, case, grid, tier, ...).
local function job_get(keys, a)
  local j = hgetall(a[1] .. 'job:' .. a[2])
  if not j then return fail('UNKNOWN_JOB', 'no job ' .. a[2]) end
  j.id = a[2]
  return ok(j)
end

-- job_claim(P, lease_ms, max): lease due jobs of pending:notify and return
-- them whole, each shaped like a job_get reply, in one call. A pending id
-- whose job is gone is dropped.
local function job_claim(keys, a)
  local P, key = a[1], a[1] .. 'pending:notify'
  local now = now_ms()
  local jobs = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(a[3]))) do
    local j = hgetall(P .. 'job:' .. id)
    if j then
      redis.call('ZADD', key, 'XX', now + tonumber(a[2]), id)
      j.id = id
      j.ok = true
      table.insert(jobs, j)
    else
      redis.call('ZREM', key, id)
    end
  end
  return ok({ jobs = jobs, now = now })
end

-- job_done(P, job_id, done_mask, retry_ms, max_attempts): done_mask names
-- the targets delivered so far; retry_ms 0 means every target is done.
local function job_done(keys, a)
  local P, id = a[1], a[2]
  local key = P .. 'job:' .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', P .. 'pending:notify', id)
    return ok({ gone = true })
  end
  if tonumber(a[4]) == 0 then
    redis.call('DEL', key)
    redis.call('ZREM', P .. 'pending:notify', id)
    total(P, 'notified')
    return ok({ done = true })
  end
  local attempts = redis.call('HINCRBY', key, 'attempts', 1)
  redis.call('HSET', key, 'done', a[3])
  if attempts >= tonumber(a[5]) then
    redis.call('ZREM', P .. 'pending:notify', id)
    redis.call('ZADD', P .. 'dead:notify', now_ms(), id)
    total(P, 'notify_dead')
    return ok({ dead = true, attempts = attempts })
  end
  redis.call('ZADD', P .. 'pending:notify', now_ms() + tonumber(a[4]), id)
  return ok({ retry = true, attempts = attempts })
end

redis.register_function('gc_job_done', job_done)
redis.register_function('gc_job_claim', job_claim)
redis.register_function{ function_name = 'gc_job_get', callback = job_get, flags = { 'no-writes' } }
