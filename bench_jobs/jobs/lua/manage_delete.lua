-- jobs delete / purge: remove jobs entirely (hash, queue list entry, every index and registry).
-- A started job is refused: its worker still runs it (stop it first).
-- ARGV: bench_id, lrem_max, id...  (lrem_max as in manage_cancel.lua)
-- Returns one code per id: "ok" | "missing" | "status:started".
local B, lrem_max = ARGV[1], tonumber(ARGV[2])
local prefix = 'bj:' .. B
local states = {'queued', 'started', 'scheduled', 'failed', 'finished', 'canceled'}
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local h = 'rq:job:' .. id
  local f = redis.call('HMGET', h, 'status', 'origin', 'bj_queue', 'bj_site')
  local status, origin, queue, site = f[1], f[2], f[3], f[4]
  if not status or not origin or not queue or not site or string.sub(origin, 1, #B + 1) ~= B .. ':' then
    out[#out + 1] = 'missing'
  elseif status == 'started' then
    out[#out + 1] = 'status:started'
  else
    local qkey = 'rq:queue:' .. origin
    if status == 'queued' and redis.call('LLEN', qkey) <= lrem_max then
      redis.call('LREM', qkey, 0, id)
    end
    for _, state in ipairs(states) do
      redis.call('ZREM', prefix .. ':idx:' .. state .. ':' .. queue .. ':' .. site, id)
    end
    redis.call('ZREM', prefix .. ':scheduled', id)
    redis.call('ZREM', 'rq:scheduled:' .. origin, id) -- [rq-compat]
    redis.call('DEL', 'rq:results:' .. id)
    redis.call('ZREM', prefix .. ':started', id)
    redis.call('ZREM', 'rq:wip:' .. origin, id)
    redis.call('ZREM', 'rq:failed:' .. origin, id)
    redis.call('ZREM', 'rq:finished:' .. origin, id)
    redis.call('DEL', h)
    out[#out + 1] = 'ok'
  end
end
return out
