-- The audit chain (docs/security-input.md): operator actions (verify,
-- extension decisions, parking, order decisions, directory loads, clock
-- moves) each append one entry to the list P..'audit'. An entry is
-- '<hash> <text>': text is the entry as JSON, and hash is sha1hex(prev ..
-- text), prev the hash of the entry before (40 zeros for the first): the
-- hash links it to the entry before, whose hash the text need not repeat
-- (entries written before did, as "prev"). `gridcall audit verify`
-- recomputes every link and names the first that does not hold.

local AUDIT_GENESIS = '0000000000000000000000000000000000000000'

-- Append an entry: by is the authenticated principal (the Redis or ZAP
-- identity of the sender), who the name the sender gave, what the action,
-- subject the case id (or what else it acted on), note the detail.
-- Returns the entry's number.
local function audit(P, by, who, what, subject, note)
  local key = P .. 'audit'
  local last = redis.call('LINDEX', key, -1)
  local prev = last and string.sub(last, 1, 40) or AUDIT_GENESIS
  local n = redis.call('LLEN', key) + 1
  local text = cjson.encode({ n = n, at = now_ms(), by = by or '', who = who or '', what = what,
                              subject = subject or '', note = note or '' })
  redis.call('RPUSH', key, redis.sha1hex(prev .. text) .. ' ' .. text)
  return n
end

-- audit_add(P, by, what, subject, note): an entry for an action taken
-- outside a transition (a library load, a principals file reload).
local function audit_add(keys, a)
  if (a[3] or '') == '' then return fail('BAD_VALUE', 'what was done is required') end
  return ok({ n = audit(a[1], a[2], '', a[3], a[4], a[5]) })
end

-- audit_range(P, from, count): entries from index from (0-based), at most
-- count (1..1000), as stored, and how many there are.
local function audit_range(keys, a)
  local from, count = tonumber(a[2]) or 0, tonumber(a[3]) or 100
  if from < 0 or count < 1 or count > 1000 then
    return fail('BAD_VALUE', 'from must be 0 or more and count 1..1000')
  end
  local key = a[1] .. 'audit'
  return ok({ total = redis.call('LLEN', key),
              entries = redis.call('LRANGE', key, from, from + count - 1) })
end

redis.register_function('gc_audit_add', audit_add)
redis.register_function{ function_name = 'gc_audit_range', callback = audit_range, flags = { 'no-writes' } }
