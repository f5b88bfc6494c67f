-- jobs cancel: queued or scheduled jobs become `canceled`: out of the queue list, out of the
-- queued/scheduled indexes, into the canceled index, expiring after `ttl` seconds.
-- ARGV: bench_id, now (epoch seconds), now_rq (RQ time text), ttl, lrem_max, id...
-- lrem_max: LREM scans the list, so it is skipped when the list is longer (workers skip ids whose
-- hash is not `queued`, per the claim contract).
-- Returns one code per id: "ok" | "missing" | "status:<current status>".
local B, now, now_rq, ttl, lrem_max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local prefix = 'bj:' .. B
local out = {}
for i = 6, #ARGV do
  local id = ARGV[i]
  local h = 'rq:job:' .. id
  local f = redis.call('HMGET', h, 'status', 'origin', 'bj_queue', 'bj_site')
  local status, origin, queue, site = f[1], f[2], f[3], f[4]
  if not status or not origin or not queue or not site or string.sub(origin, 1, #B + 1) ~= B .. ':' then
    out[#out + 1] = 'missing'
  elseif status ~= 'queued' and status ~= 'scheduled' then
    out[#out + 1] = 'status:' .. status
  else
    local qkey = 'rq:queue:' .. origin
    if status == 'queued' and redis.call('LLEN', qkey) <= lrem_max then
      redis.call('LREM', qkey, 0, id)
    end
    redis.call('ZREM', prefix .. ':idx:queued:' .. queue .. ':' .. site, id)
    redis.call('ZREM', prefix .. ':idx:scheduled:' .. queue .. ':' .. site, id)
    redis.call('ZREM', prefix .. ':scheduled', id)
    redis.call('ZREM', 'rq:scheduled:' .. origin, id) -- [rq-compat]
    local cidx = prefix .. ':idx:canceled:' .. queue .. ':' .. site
    redis.call('ZADD', cidx, now, id)
    redis.call('HSET', h, 'status', 'canceled', 'ended_at', now_rq)
    if ttl and ttl > 0 then
      redis.call('EXPIRE', h, ttl)
      -- entries of canceled jobs whose hash has expired: the count must not grow for ever
      redis.call('ZREMRANGEBYSCORE', cidx, '-inf', tonumber(now) - ttl)
    end
    out[#out + 1] = 'ok'
  end
end
return out
