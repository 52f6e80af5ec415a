-- Who may act on a case is decided by intake (services/common/auth.c)
-- from where the case is and how it came in: its grid, community, channel
-- and the principal that reported it (via). None of them changes after
-- registration, so reading them before the transition is enough.

-- case_scope(P, id...): { cases = { [id] = { grid, community, channel, via } } };
-- an unknown case is absent.
local function case_scope(keys, a)
  local out = {}
  for i = 2, #a do
    local h = redis.call('HMGET', a[1] .. 'case:' .. a[i], 'grid', 'community', 'channel', 'via')
    if h[1] then
      out[a[i]] = { grid = h[1], community = h[2] or '', channel = h[3] or '', via = h[4] or '' }
    end
  end
  return ok({ cases = out })
end

redis.register_function{ function_name = 'gc_case_scope', callback = case_scope, flags = { 'no-writes' } }
