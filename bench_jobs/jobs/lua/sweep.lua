-- include: dispatch_common
-- The recovery sweep. ARG = bench_id, now, now_iso, owner, lock_ms, grace, failure_ttl,
-- failed_limit, force, dead_after_ms. Runs at most once per lock_ms for the whole bench (the lock is left to
-- expire on purpose: it is the rate limit, so many workers calling this cost one sweep).
-- A started job whose worker's alive key is gone (SIGKILL, OOM, host lost), or which ran past
-- start + timeout + grace, goes back to the front of its queue while it has retries left, else
-- it is failed with the reason. Registrations of dead workers are removed.
-- Right after an outage (see `contact`) no worker is judged: only stale entries are cleaned
-- (`force` judges anyway: tests and an operator who knows).
-- Returns {swept (0 = lock held elsewhere), requeued, failed, held (1 = outage hold), id...}.
local now, iso, owner = tonumber(ARG[2]), ARG[3], ARG[4]
local grace, ttl, limit = tonumber(ARG[6]), tonumber(ARG[7]), tonumber(ARG[8])
if ARG[9] ~= '1' and not redis.call('SET', SWEEP_LOCK, owner, 'NX', 'PX', ARG[5]) then
  return {0, 0, 0, 0}
end
contact(tonumber(ARG[10]) or 15000)
local held = ARG[9] ~= '1' and redis.call('EXISTS', OUTAGE) == 1
local requeued, failed, ids = 0, 0, {}
-- A dead worker's jobs in claim order (see `claim`): the first may have been running; the others of
-- its batch never began, so they go back to the front, in order, without using an attempt or being
-- reported, as fast as the running one. Requeues to the front are applied last first, so the
-- queue's head keeps the claim order.
local first_of, front = {}, {}
local started = redis.call('ZRANGE', STARTED, 0, -1, 'WITHSCORES')
for i = 1, #started, 2 do
  local id, t0 = started[i], tonumber(started[i + 1])
  local f = redis.call('HMGET', jkey(id), 'status', 'worker_name', 'timeout', 'bj_attempts',
                       'bj_retry', 'bj_queue', 'bj_site', 'origin')
  local q, site = queue_of(f[6], f[8]) or '', f[7] or ''
  if f[1] ~= 'started' then
    unstart(id, q) -- stale entry (job deleted or moved by hand)
  elseif not held then
    local reason = nil
    local dead = redis.call('EXISTS', ALIVE_P .. (f[2] or '')) == 0
    if dead and first_of[f[2] or ''] then
      unstart(id, q)
      redis.call('HINCRBY', jkey(id), 'bj_attempts', -1)
      front[#front + 1] = {id, q, site}
    elseif dead then
      first_of[f[2] or ''] = true
      reason = 'worker died'
    elseif now > t0 + (tonumber(f[3]) or 300) + grace then
      reason = 'worker died (no result ' .. grace .. 's after the job timeout)'
    end
    if reason then
      unstart(id, q)
      if (tonumber(f[4]) or 1) <= (tonumber(f[5]) or 0) then
        redis.call('HSET', jkey(id), 'bj_error', reason, 'ended_at', iso)
        front[#front + 1] = {id, q, site}
        requeued = requeued + 1
      else
        fail_job(id, q, site, 'failed', reason, '', now, iso, ttl, limit)
        failed = failed + 1
      end
      note_retries_left(id)
      ids[#ids + 1] = id
    end
  end
end
for i = #front, 1, -1 do
  requeue(front[i][1], front[i][2], front[i][3], true)
end
for _, name in ipairs(held and {} or redis.call('SMEMBERS', WORKERS)) do
  if redis.call('EXISTS', ALIVE_P .. name) == 0 then
    local queues = redis.call('HGET', wkey(name), 'queues') or ''
    for q in string.gmatch(queues, '[^,]+') do redis.call('SREM', WORKERS_OF_P .. q, wkey(name)) end
    redis.call('SREM', RQ_WORKERS, wkey(name))
    redis.call('SREM', WORKERS, name)
    redis.call('DEL', wkey(name), CONTROL_P .. name, wkey(name) .. EXECUTIONS_S, rq_execution_key(name))
  end
end
local out = {1, requeued, failed, held and 1 or 0}
for _, id in ipairs(ids) do out[#out + 1] = id end
return out
