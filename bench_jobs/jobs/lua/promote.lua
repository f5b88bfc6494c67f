-- include: dispatch_common
-- promote: ARG = bench_id, now, limit -> number of due scheduled jobs moved to the tail of their queue.
local now, limit = tonumber(ARG[2]), tonumber(ARG[3])
local ids = redis.call('ZRANGEBYSCORE', SCHEDULED, '-inf', now, 'LIMIT', 0, limit)
local moved = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', SCHEDULED, id)
  local f = redis.call('HMGET', jkey(id), 'status', 'bj_queue', 'bj_site', 'origin')
  f[2] = queue_of(f[2], f[4])
  if f[1] == 'scheduled' and f[2] then
    local site = f[3] or ''
    redis.call('ZREM', idx('scheduled', f[2], site), id)
    redis.call('ZREM', rq_scheduled(f[2]), id) -- [rq-compat]
    requeue(id, f[2], site, false)
    moved = moved + 1
  end
end
return moved
