-- jobs retry: put failed, stopped or canceled jobs back at the tail of their queue as `queued`,
-- with a wake token, in one step per batch (docs/storage.md: one script per state change). Their
-- attempts start again from zero, so a re-queued dead letter gets its whole retry budget back.
-- A scheduled job (a retry waiting for its backoff, or --in/--at) is queued now, attempts kept.
-- Key names derive from each job's fields (origin, bj_queue, bj_site): a single Redis, not a cluster.
-- ARGV: bench_id, now (epoch seconds), now_rq (RQ time text), id...
-- Returns one code per id: "ok" | "missing" | "status:<current status>".
local B, now, now_rq = ARGV[1], ARGV[2], ARGV[3]
local prefix = 'bj:' .. B
local retryable = {failed = true, stopped = true, canceled = true, scheduled = true}
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local h = 'rq:job:' .. id
  local f = redis.call('HMGET', h, 'status', 'origin', 'bj_queue', 'bj_site', 'bj_retry')
  local status, origin, queue, site = f[1], f[2], f[3], f[4]
  if not status or not origin or not queue or not site or string.sub(origin, 1, #B + 1) ~= B .. ':' then
    out[#out + 1] = 'missing'
  elseif not retryable[status] then
    out[#out + 1] = 'status:' .. status
  else
    for _, state in ipairs({'failed', 'finished', 'canceled', 'scheduled'}) do
      redis.call('ZREM', prefix .. ':idx:' .. state .. ':' .. queue .. ':' .. site, id)
    end
    redis.call('ZREM', 'rq:failed:' .. origin, id)
    redis.call('ZREM', prefix .. ':scheduled', id)
    redis.call('ZREM', 'rq:scheduled:' .. origin, id) -- [rq-compat]
    -- A failed job carries failure_ttl; a queued one must not expire.
    redis.call('PERSIST', h)
    if status == 'scheduled' then
      redis.call('HSET', h, 'status', 'queued', 'enqueued_at', now_rq, 'bj_enqueued', now)
    else
      redis.call('HSET', h, 'status', 'queued', 'enqueued_at', now_rq, 'bj_enqueued', now,
        'retries_left', f[5] or '0', 'bj_attempts', 0)
    end
    redis.call('HDEL', h, 'started_at', 'ended_at', 'bj_result', 'bj_error', 'exc_info', 'bj_duration',
      'worker_name', 'bj_run_at')
    local qkey = 'rq:queue:' .. origin
    redis.call('RPUSH', qkey, id)
    redis.call('SADD', 'rq:queues', qkey)
    redis.call('ZADD', prefix .. ':idx:queued:' .. queue .. ':' .. site, now, id)
    redis.call('SADD', prefix .. ':sites', site)
    local wake = prefix .. ':wake:' .. queue
    redis.call('LPUSH', wake, '1')
    redis.call('LTRIM', wake, 0, 999)
    out[#out + 1] = 'ok'
  end
end
return out
