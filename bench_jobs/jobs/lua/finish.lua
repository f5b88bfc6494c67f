-- include: dispatch_common
-- finish (and optionally claim the next batch in the same round trip).
-- ARG = bench_id, job_id, worker, status, now, now_iso, result, error, exc_info, duration,
--        ttl, failed_limit, run_at, started_iso, rq_value (base64, RQ's results stream),
--        next_id (the job of the batch the worker runs next, '' for none), [stats, claim_n, queue...]
-- status: finished | failed | stopped | scheduled (retry later) | queued (retry now, at the front)
--         | released (claimed but not run: back to the front, the attempt not counted).
-- started_iso: when the job really began (a job claimed in a batch waited for the ones before it);
-- '' leaves started_at as the claim wrote it. A worker sends one finish per job without waiting for
-- the reply (16 arguments), and ends each batch with one that also carries `stats` (the run counters
-- gathered since its last such call, see `record`; '' for none) and, to claim the next batch, `claim_n`
-- and the queues.
-- Applied only while the job is still started by this worker: if the recovery sweep took it
-- away meanwhile, it may be running elsewhere and its state is not ours to write.
-- Returns {applied (0/1), claimed jobs' fields...}.
local id, worker, status = ARG[2], ARG[3], ARG[4]
local now, iso = tonumber(ARG[5]), ARG[6]
local duration, ttl, limit = tonumber(ARG[10]), tonumber(ARG[11]), tonumber(ARG[12])
local jk = jkey(id)
local wk = wkey(worker)
local f = redis.call('HMGET', jk, 'status', 'worker_name', 'bj_queue', 'bj_site', 'bj_method', 'bj_attempts',
                     'origin')
local applied = 0
if f[1] == 'started' and f[2] == worker then
  applied = 1
  local q, site, method = queue_of(f[3], f[7]) or '', f[4] or '', f[5] or ''
  unstart(id, q)
  -- [rq-compat] the run is over for RQ too: the worker's execution moves on to its next job, or ends
  -- (a released job never ran: the execution is the running job's); an end state gets RQ's result entry.
  if status ~= 'released' then
    if ARG[16] ~= '' then
      -- (every field, so a claim's hand-back, which writes no execution, still leaves a whole one)
      redis.call('HSET', rq_execution_key(worker), 'id', 'bj', 'job_id', ARG[16], 'created_at', now,
                 'last_heartbeat', now, 'worker_name', worker)
    else
      rq_execution_clear(worker)
    end
  end
  if status == 'finished' and ttl ~= 0 then
    -- (a job that returned None gets no entry: RQ reads it as no return value either way, and the
    -- stream would cost a key per finished job for result_ttl)
    if ARG[15] ~= '' then rq_result(id, '1', worker, now, ttl, 'return_value', ARG[15], 'bj' .. (f[6] or '1')) end
    local rqf = FINISHED_P .. q
    redis.call('ZADD', rqf, ttl > 0 and (now + ttl) or '+inf', id)
    if #ARG >= 17 then redis.call('ZREMRANGEBYSCORE', rqf, '-inf', now) end  -- trimmed once per batch
  elseif status == 'failed' or status == 'stopped' then
    rq_result(id, status == 'failed' and '2' or '3', worker, now, ttl, 'exc_string', ARG[15], 'bj' .. (f[6] or '1'))
  end
  if status == 'finished' then
    if ARG[14] ~= '' then
      redis.call('HSET', jk, 'status', 'finished', 'ended_at', iso, 'bj_result', ARG[7], 'bj_duration', ARG[10],
                 'started_at', ARG[14])
    else
      redis.call('HSET', jk, 'status', 'finished', 'ended_at', iso, 'bj_result', ARG[7], 'bj_duration', ARG[10])
    end
    local fin = idx('finished', q, site)
    redis.call('ZADD', fin, now, id)
    if ttl > 0 then
      redis.call('EXPIRE', jk, ttl)
      if #ARG >= 17 then redis.call('ZREMRANGEBYSCORE', fin, '-inf', now - ttl) end  -- trimmed once per batch
    elseif ttl == 0 then
      redis.call('DEL', jk)
      redis.call('ZREM', fin, id)
    end
  elseif status == 'failed' or status == 'stopped' then
    redis.call('HSET', jk, 'bj_duration', ARG[10])
    fail_job(id, q, site, status, ARG[8], ARG[9], now, iso, ttl, limit)
  elseif status == 'scheduled' then
    local run_at = tonumber(ARG[13])
    redis.call('HSET', jk, 'status', 'scheduled', 'bj_run_at', ARG[13], 'bj_error', ARG[8],
               'ended_at', iso, 'bj_duration', ARG[10])
    if ARG[9] ~= '' then redis.call('HSET', jk, 'exc_info', ARG[9]) end
    redis.call('PERSIST', jk)
    redis.call('ZADD', SCHEDULED, run_at, id)
    redis.call('ZADD', idx('scheduled', q, site), run_at, id)
    redis.call('ZADD', rq_scheduled(q), run_at, id) -- [rq-compat]
  elseif status == 'queued' then
    redis.call('HSET', jk, 'bj_error', ARG[8], 'ended_at', iso, 'bj_duration', ARG[10])
    if ARG[9] ~= '' then redis.call('HSET', jk, 'exc_info', ARG[9]) end
    requeue(id, q, site, true)
  else -- released
    redis.call('HINCRBY', jk, 'bj_attempts', -1)
    requeue(id, q, site, true)
  end
  if status ~= 'finished' then note_retries_left(id) end
end
record(worker, ARG[17])
local out = {applied}
if #ARG >= 19 then
  local queues = {}
  for i = 19, #ARG do queues[#queues + 1] = ARG[i] end
  local jobs = claim(worker, now, iso, queues, tonumber(ARG[18]) or 1)
  if jobs then for _, v in ipairs(jobs) do out[#out + 1] = v end end
elseif #ARG >= 17 and redis.call('EXISTS', wk) == 1 then
  redis.call('HSET', wk, 'state', 'idle', 'current_job', '', 'bj_batch', '')
end
return out
