-- jobs cancel: queued or scheduled jobs become `canceled`: out of the queue list, out of the
-- queued/scheduled indexes, into the canceled index, expiring after `ttl` seconds.
-- ARG: bench_id, now (epoch seconds), now_rq (RQ time text), ttl, lrem_max, id...
-- lrem_max: LREM scans the list, so it is skipped when the queue is longer, and the site's queued index
-- entry is taken out when it is among its first lrem_max (workers skip ids whose hash is not `queued`,
-- per the claim contract; repair.py drops an index entry left behind).
-- Returns one code per id: "ok" | "missing" | "status:<current status>".
local now, now_rq, ttl, lrem_max = ARG[2], ARG[3], tonumber(ARG[4]), tonumber(ARG[5])
local out = {}
for i = 6, #ARG do
  local id = ARG[i]
  local f = bench_job(id)
  if not f then
    out[#out + 1] = 'missing'
  elseif f[1] ~= 'queued' and f[1] ~= 'scheduled' then
    out[#out + 1] = 'status:' .. f[1]
  else
    local status, queue, site = f[1], f[3], f[4]
    local q = qkey(string.sub(f[2], #ORIGIN_P + 1))
    if status == 'queued' and redis.call('LLEN', q) <= lrem_max then
      redis.call('LREM', q, 0, id)
    end
    if status == 'queued' then qidx_remove(queue, site, id, lrem_max) end
    redis.call('ZREM', idx('scheduled', queue, site), id)
    redis.call('ZREM', SCHEDULED, id)
    redis.call('ZREM', RQ_SCHEDULED_P .. string.sub(f[2], #ORIGIN_P + 1), id) -- [rq-compat]
    local cidx = idx('canceled', queue, site)
    redis.call('ZADD', cidx, now, id)
    redis.call('HSET', jkey(id), 'status', 'canceled', 'ended_at', now_rq)
    if ttl and ttl > 0 then
      redis.call('EXPIRE', jkey(id), ttl)
      -- entries of canceled jobs whose hash has expired: the count must not grow for ever
      redis.call('ZREMRANGEBYSCORE', cidx, '-inf', tonumber(now) - ttl)
    end
    out[#out + 1] = 'ok'
  end
end
return out
