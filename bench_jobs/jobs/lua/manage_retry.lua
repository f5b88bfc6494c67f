-- jobs retry: put failed, stopped or canceled jobs back at the tail of their queue as `queued`,
-- with a wake token, in one step per batch (docs/storage.md: one script per state change). Their
-- attempts start again from zero, so a re-queued dead letter gets its whole retry budget back.
-- A scheduled job (a retry waiting for its backoff, or --in/--at) is queued now, attempts kept.
-- ARG: bench_id, now (epoch seconds), now_rq (RQ time text), id...
-- Returns one code per id: "ok" | "missing" | "status:<current status>".
local now_rq = ARG[3]  -- (ARG[2], the epoch time, scored the queued index when it was a ZSET)
local retryable = {failed = true, stopped = true, canceled = true, scheduled = true}
local out = {}
for i = 4, #ARG do
  local id = ARG[i]
  local f = bench_job(id, 'bj_retry')
  if not f then
    out[#out + 1] = 'missing'
  elseif not retryable[f[1]] then
    out[#out + 1] = 'status:' .. f[1]
  else
    local status, queue, site, h = f[1], f[3], f[4], jkey(id)
    local rq_q = string.sub(f[2], #ORIGIN_P + 1)
    for _, state in ipairs({'failed', 'finished', 'canceled', 'scheduled'}) do
      redis.call('ZREM', idx(state, queue, site), id)
    end
    redis.call('ZREM', FAILED_P .. rq_q, id)
    redis.call('ZREM', SCHEDULED, id)
    redis.call('ZREM', RQ_SCHEDULED_P .. rq_q, id) -- [rq-compat]
    -- A failed job carries failure_ttl; a queued one must not expire.
    redis.call('PERSIST', h)
    if status == 'scheduled' then
      redis.call('HSET', h, 'status', 'queued', 'enqueued_at', now_rq)
    else
      redis.call('HSET', h, 'status', 'queued', 'enqueued_at', now_rq, 'retries_left', f[5] or '0', 'bj_attempts', 0)
    end
    -- (bj_enqueued: the old layout's copy of enqueued_at, dropped so no stale one is left behind)
    redis.call('HDEL', h, 'started_at', 'ended_at', 'bj_result', 'bj_error', 'exc_info', 'bj_duration',
      'worker_name', 'bj_run_at', 'bj_enqueued')
    redis.call('RPUSH', qkey(rq_q), id)
    redis.call('SADD', RQ_QUEUES, qkey(rq_q))
    qidx_push(queue, site, false, id)
    redis.call('SADD', SITES, site)
    if redis.call('LPUSH', WAKE_P .. queue, '1') > 1000 then redis.call('LTRIM', WAKE_P .. queue, 0, 999) end
    out[#out + 1] = 'ok'
  end
end
return out
