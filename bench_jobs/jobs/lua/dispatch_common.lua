-- Shared by the worker-side scripts (claim, finish, promote, sweep): each one starts with
-- `-- include: dispatch_common`, and bench_jobs/jobs/store.py puts this file there (after keys.lua).

-- Redis' clock as (epoch seconds, RQ's time stamp: UTC, microseconds, 'Z'), for a claim that waited
-- behind a BLPOP (dispatch.wait_and_claim): the time the worker sent it may be a second old by then.
-- Lua in Redis has no os.date: the date is worked out from the day number (the proleptic Gregorian
-- calendar's civil-from-days arithmetic); tests/jobs/test_wait_and_claim.py checks it against Python's.
local function redis_now()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  local days, rem = math.floor(s / 86400), s % 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return s + us / 1000000, string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', y, m, d, math.floor(rem / 3600),
                                         math.floor(rem % 3600 / 60), rem % 60, us)
end

-- [rq-compat] RQ 3's own records, kept in step so `rq info`, rq-dashboard and rq's API see what
-- bench-jobs does (issue 10): a busy worker's current execution, results streams, the finished and
-- scheduled registries. Every write is inside the script that changes the job: no extra round trip.
-- A worker runs one job at a time, so it has one execution, named after the worker (its first '.' made
-- '_', so the key is `rq:execution:{tag}_...` like the bench's job ids and stays inside its ACL patterns;
-- worker names hold no ':'), whose `job_id` field names the job running now: RQ's Execution.restore reads
-- the job from that field. The claim writes it for the batch's first job, each finish points it at the
-- next one (one HSET per job, where an execution per job cost HSET, EXPIRE, SREM and DEL), and the
-- worker's last finish of a batch, or an empty claim, deletes it with the worker's execution index.
-- Jobs of an earlier layout had one execution per run (`{id}:bj{attempt}`); those simply expire.
local function rq_execution_of(worker) return (string.gsub(worker, '%.', '_', 1)) .. ':bj' end
local function rq_execution_key(worker) return EXECUTION_P .. rq_execution_of(worker) end
local function rq_execution_clear(worker)
  redis.call('DEL', rq_execution_key(worker), wkey(worker) .. EXECUTIONS_S)
end
-- RQ's results stream (rq.results.Result): type 1 successful, 2 failed, 3 stopped; `value` is already
-- base64 as RQ stores it (return_value: the JSON result; exc_string: zlib of the traceback).
local function rq_result(id, kind, worker, now, ttl, field, value, execution)
  local rk = RESULTS_P .. id
  if value ~= '' then
    redis.call('XADD', rk, 'MAXLEN', '10', '*', 'type', kind, 'worker_name', worker, field, value,
               'execution_id', execution, 'execution_ended_at', now)
  else
    redis.call('XADD', rk, 'MAXLEN', '10', '*', 'type', kind, 'worker_name', worker,
               'execution_id', execution, 'execution_ended_at', now)
  end
  if ttl > 0 then redis.call('EXPIRE', rk, ttl) elseif ttl < 0 then redis.call('PERSIST', rk) end
end
local function rq_scheduled(q) return RQ_SCHEDULED_P .. q end

-- A token on the queue's wake list wakes one idle worker; capped so nobody can fill Redis with them.
-- (trimmed only when past the cap: an LTRIM per enqueue was a command per job for nothing)
local function wake(q)
  if redis.call('LPUSH', WAKE_P .. q, '1') > 1000 then redis.call('LTRIM', WAKE_P .. q, 0, 999) end
end

-- Outages are not deaths. Every heartbeat, registration and sweep refreshes CONTACT, whose TTL
-- is half the dead-after time (a live worker beats every third of it). Found missing, nobody of the
-- bench reached Redis for that long: Redis was down, restarted or paused (its TTLs ran on), or no
-- bench process ran at all. Alive keys that ran out meanwhile then prove nothing, so OUTAGE
-- holds every death verdict for one dead-after time counted from now, in which live workers beat again.
-- Both are judged by Redis' own clock, so a sweeper that was itself cut off changes nothing.
local function contact(dead_after_ms)
  local half = math.max(1, math.floor(dead_after_ms / 2))
  if not redis.call('SET', CONTACT, '1', 'PX', half, 'GET') then
    redis.call('SET', OUTAGE, '1', 'PX', math.max(1, math.floor(dead_after_ms)))
  end
end

-- Take a started job out of every "running" index: the bench-wide set and RQ's wip registry. (There is
-- no per-site started index: readers filter the bench-wide set by each job's hash, jobs/running.py;
-- it saved a ZREM per job here and a ZADD per batch and site in `claim`.)
local function unstart(id, q)
  redis.call('ZREM', STARTED, id)
  redis.call('ZREM', WIP_P .. q, id)
end

-- RQ's `retries_left`, kept in step for RQ's tools and `jobs show`: retries not used yet, once the
-- run that just ended is counted (a retry is used when it is scheduled, as in RQ).
local function note_retries_left(id)
  local f = redis.call('HMGET', jkey(id), 'bj_retry', 'bj_attempts')
  redis.call('HSET', jkey(id), 'retries_left', math.max(0, (tonumber(f[1]) or 0) - (tonumber(f[2]) or 0)))
end

-- Back to a queue: front (recovered / released jobs already waited their turn) or tail.
local function requeue(id, q, site, front)
  local jk = jkey(id)
  redis.call('HSET', jk, 'status', 'queued')
  redis.call('PERSIST', jk)
  if front then redis.call('LPUSH', qkey(q), id) else redis.call('RPUSH', qkey(q), id) end
  redis.call('SADD', RQ_QUEUES, qkey(q))
  qidx_push(q, site, front, id)
  wake(q)
end

-- An end state that keeps the job as a dead letter: failed index + RQ's failed registry, TTL,
-- index trimmed by age and capped at `limit` (the oldest beyond it are deleted for good).
local function fail_job(id, q, site, status, reason, exc, now, iso, ttl, limit)
  local jk = jkey(id)
  redis.call('HSET', jk, 'status', status, 'bj_error', reason, 'ended_at', iso)
  if exc ~= '' then redis.call('HSET', jk, 'exc_info', exc) end
  local fidx = idx('failed', q, site)
  local rqf = FAILED_P .. q
  redis.call('ZADD', fidx, now, id)
  redis.call('ZADD', rqf, now + ttl, id)
  if ttl > 0 then
    redis.call('EXPIRE', jk, ttl)
    redis.call('ZREMRANGEBYSCORE', fidx, '-inf', now - ttl)
    redis.call('ZREMRANGEBYSCORE', rqf, '-inf', now) -- scored by expiry time: these hashes are gone
  end
  local n = redis.call('ZCARD', fidx)
  if limit > 0 and n > limit then
    local old = redis.call('ZRANGE', fidx, 0, n - limit - 1)
    for _, oid in ipairs(old) do
      redis.call('DEL', jkey(oid))
      redis.call('ZREM', rqf, oid)
    end
    redis.call('ZREMRANGEBYRANK', fidx, 0, n - limit - 1)
  end
end

-- A job without `bj_method` is not a bench-jobs job (Frappe's `frappe.enqueue` pickles RQ jobs onto
-- the same `{bench_id}:{queue}` lists): never popped, failed or moved, it stays for Frappe's workers.
-- With foreign jobs at the head, the first queued bench-jobs job among the next FOREIGN_SCAN ids is
-- taken out with LREM (ids of ours that are gone or no longer queued are dropped on the way).
-- Beyond that window our jobs wait until Frappe's workers drain theirs; `worker` warns at start.
local FOREIGN_SCAN = 1000
local function take_behind_foreign(key)
  local pos = 1
  while pos < FOREIGN_SCAN do
    local ids = redis.call('LRANGE', key, pos, math.min(pos + 99, FOREIGN_SCAN - 1))
    if #ids == 0 then return nil end
    local removed = 0
    for _, id in ipairs(ids) do
      local f = redis.call('HMGET', jkey(id), 'status', 'bj_method')
      if f[2] then
        redis.call('LREM', key, 1, id)
        if f[1] == 'queued' then return id end
        removed = removed + 1
      elseif redis.call('EXISTS', jkey(id)) == 0 then
        redis.call('LREM', key, 1, id)
        removed = removed + 1
      end
    end
    pos = pos + #ids - removed
  end
  return nil
end

-- The fields of a claimed job as the worker reads them (model.Job.from_claim): 10 per job. The kwargs
-- are `bj_kwargs` in hashes of the old layout, else RQ's `data` sent after a NUL (see kwargs_of); the
-- queue is `bj_queue` there, else read from `origin`.
local CLAIM_FIELDS = {'status', 'bj_site', 'bj_method', 'bj_kwargs', 'timeout', 'bj_retry', 'bj_on_success',
                      'bj_on_failure', 'bj_attempts', 'bj_queue', 'worker_name', 'data', 'origin'}
local function kwargs_of(f)
  if f[4] then return f[4] end
  if f[12] then return '\0' .. f[12] end
  return '{}'
end

-- Up to `n` queued jobs, in priority order (the first non-empty queue's head first, then on down
-- the list), moved to started for `worker`; their fields, 10 per job, or false when every queue is empty.
-- Ids whose hash is gone or no longer queued (deleted, canceled) are dropped from the list.
-- A job's timeout as a ZADD score can use: a hand-written 'nan', 'inf' or junk must not fail the
-- script after the job was popped (the worker then fails such a job as InvalidJob).
local function seconds(value)
  local t = tonumber(value)
  if t and t == t and t >= 1 and t <= 1e9 then return t end
  return 300
end

-- Scores of `ids` in the bench's started set (false where absent): one ZMSCORE, or, on a Redis older
-- than 6.2 (a Frappe bench's own server may be), one ZSCORE each.
local function started_scores(ids)
  local scores = redis.pcall('ZMSCORE', STARTED, unpack(ids))
  if type(scores) == 'table' and scores.err == nil then return scores end
  scores = {}
  for i, id in ipairs(ids) do scores[i] = redis.call('ZSCORE', STARTED, id) end
  return scores
end

-- A batch is run in claim order, so each job's score in the started set is the claim time plus a
-- millisecond per place: the sweep reads a dead worker's jobs in that order, and only the first one
-- can have begun (see sweep.lua); the others go back to the front without using an attempt.
-- Index writes are gathered per queue and site (queued index) or queue (wip): one command each per batch.
local function claim(worker, now, iso, queues, n)
  n = n or 1
  -- A worker claims only with no job in hand. If jobs of its last batch are still started by it, an
  -- earlier claim was applied but its reply was lost (redis-py sent it again with the same `iso`, or
  -- the worker claims anew): hand those back rather than take more and strand them until their
  -- deadline. Under Sentinel the ends of some of a batch's jobs could also reach an old master that was
  -- still taking writes, while the claim and later ends reached the new one: on the new master those
  -- jobs stay `started` under a live worker (and a scheduled event whose run one is would be skipped
  -- until its deadline). The new master holds this worker's last claim, so its last batch names every
  -- such job: one ZMSCORE on the bench's started set finds any still started (ended jobs have left it).
  local out = {}
  local held = redis.call('HMGET', wkey(worker), 'bj_claim', 'bj_batch', 'current_job', 'state')
  local batch = (held[2] and held[2] ~= '') and held[2] or held[3]
  if batch and batch ~= '' then
    local again = held[1] == iso
    if not again then
      local batch_ids = {}
      for hid in string.gmatch(batch, '[^,]+') do batch_ids[#batch_ids + 1] = hid end
      local scores = started_scores(batch_ids)
      for i = 1, #batch_ids do
        if scores[i] and not again then
          local f = redis.call('HMGET', jkey(batch_ids[i]), 'status', 'worker_name')
          again = f[1] == 'started' and f[2] == worker
        end
      end
    end
    if again then
      for hid in string.gmatch(batch, '[^,]+') do
        local f = redis.call('HMGET', jkey(hid), unpack(CLAIM_FIELDS))
        if f[1] == 'started' and f[11] == worker and redis.call('ZSCORE', STARTED, hid) then
          for _, v in ipairs({hid, queue_of(f[10], f[13]) or '', f[2] or '', f[3] or '', kwargs_of(f), f[5] or '',
                              f[9] or '1',
                              f[6] or '0', f[7] or '', f[8] or ''}) do out[#out + 1] = v end
        end
      end
      if #out > 0 then return out end
    end
  end
  local ids, started, wip, moved = {}, {}, {}, {}
  local function take(q, id, f)
    local site = f[2] or ''
    -- (junk written by hand as bj_attempts counts as 0, as the claim's HINCRBY used to)
    local attempts = (string.match(f[9] or '0', '^%d+$') and tonumber(f[9]) or 0) + 1
    local score = now + #ids * 0.001
    redis.call('HSET', jkey(id), 'status', 'started', 'worker_name', worker, 'started_at', iso,
               'last_heartbeat', iso, 'bj_attempts', attempts)
    ids[#ids + 1] = id
    started[#started + 1] = score
    started[#started + 1] = id
    local qs = q .. '\0' .. site
    if not moved[qs] then moved[qs] = {q = q, site = site, ids = {}} end
    local m = moved[qs]
    m.ids[#m.ids + 1] = id
    if not wip[q] then wip[q] = {} end
    wip[q][#wip[q] + 1] = score + seconds(f[5]) + 60
    wip[q][#wip[q] + 1] = id
    for _, v in ipairs({id, q, site, f[3] or '', kwargs_of(f), f[5] or '', tostring(attempts), f[6] or '0',
                        f[7] or '', f[8] or ''}) do out[#out + 1] = v end
  end
  for _, q in ipairs(queues) do
    local key = qkey(q)
    local empty = false
    while #ids < n and not empty do
      local popped = redis.call('LPOP', key, n - #ids)
      if not popped then break end
      for i, id in ipairs(popped) do
        local jk = jkey(id)
        local f = redis.call('HMGET', jk, unpack(CLAIM_FIELDS))
        if not f[3] and redis.call('EXISTS', jk) == 1 then
          -- Not ours (a pickled RQ/Frappe job): it and the rest popped go back where they were, and
          -- one of ours is taken from behind it; the next LPOP goes on from there.
          for j = #popped, i, -1 do redis.call('LPUSH', key, popped[j]) end
          id = take_behind_foreign(key)
          if not id then empty = true break end
          f = redis.call('HMGET', jkey(id), unpack(CLAIM_FIELDS))
          if f[1] == 'queued' then take(q, id, f) end
          break
        end
        if f[1] == 'queued' then take(q, id, f) end
      end
    end
    if #ids >= n then break end
  end
  if #ids > 0 then
    for _, m in pairs(moved) do
      qidx_take(m.q, m.site, m.ids)
    end
    redis.call('ZADD', STARTED, unpack(started))
    for q, entries in pairs(wip) do redis.call('ZADD', WIP_P .. q, unpack(entries)) end
    if redis.call('EXISTS', wkey(worker)) == 1 then
      redis.call('HSET', wkey(worker), 'state', 'busy', 'current_job', ids[1], 'bj_batch', table.concat(ids, ','),
                 'bj_claim', iso)
      -- [rq-compat] the worker's execution (see rq_execution_of) runs the batch's first job; it
      -- lives as long as the batch's longest job may take (a batch older than half the alive TTL is
      -- given back, so its last job begins well within that).
      local longest = 0
      for i = 1, #ids do longest = math.max(longest, seconds(out[(i - 1) * 10 + 6]) + 60) end
      local ek, xk = rq_execution_key(worker), wkey(worker) .. EXECUTIONS_S
      redis.call('DEL', xk)  -- members of an earlier batch (or layout): this worker holds no other job
      redis.call('HSET', ek, 'id', 'bj', 'job_id', ids[1], 'created_at', now, 'last_heartbeat', now,
                 'worker_name', worker)
      redis.call('EXPIRE', ek, longest)
      redis.call('SADD', xk, rq_execution_of(worker))
      redis.call('EXPIRE', xk, longest)
    end
    return out
  end
  -- Every queue is empty: the tokens left on their wake lists are stale, and a worker that
  -- BLPOPs them would only wake for nothing. Enqueues after this point push fresh ones.
  -- An idle worker claims once a second (behind its BLPOP, dispatch.wait_and_claim): when its hash
  -- already says idle, writing it again would only grow the AOF and the replication stream.
  for _, q in ipairs(queues) do redis.call('DEL', WAKE_P .. q) end
  local idle = held[4] == 'idle' and (held[2] or '') == '' and (held[3] or '') == ''
  if not idle and redis.call('EXISTS', wkey(worker)) == 1 then
    redis.call('HSET', wkey(worker), 'state', 'idle', 'current_job', '', 'bj_batch', '')
  end
  rq_execution_clear(worker)
  return false
end

-- Run counters gathered by the worker over a batch (dispatch.RunStats), applied in one go: the
-- duration histogram, the dashboard's throughput per minute and hour, the worker's RQ counters.
-- JSON {b: [[base..bucket, n]...], s: [[base, sum, count]...], t: [[minute, field, n]...],
-- w: [ok, failed, seconds]}.
local function record(worker, data)
  if not data or data == '' then return end
  local s = cjson.decode(data)
  local h = DURATIONS
  for _, e in ipairs(s.b or {}) do redis.call('HINCRBY', h, e[1], e[2]) end
  for _, e in ipairs(s.s or {}) do
    redis.call('HINCRBYFLOAT', h, e[1] .. 'sum', e[2])
    redis.call('HINCRBY', h, e[1] .. 'count', e[3])
  end
  -- [throughput] ended runs per minute and per hour for the dashboard chart and `metrics`
  -- (ops/throughput.py, Keys.throughput); the TTLs bound them to 2 h of minutes, 2 days of hours.
  for _, e in ipairs(s.t or {}) do
    local tk = TPUT_MINUTE_P .. e[1]
    redis.call('HINCRBY', tk, e[2], e[3])
    redis.call('EXPIRE', tk, 7200)
    tk = TPUT_HOUR_P .. math.floor(e[1] / 60)
    redis.call('HINCRBY', tk, e[2], e[3])
    redis.call('EXPIRE', tk, 172800)
  end
  local w = s.w
  if w and redis.call('EXISTS', wkey(worker)) == 1 then
    if w[1] > 0 then redis.call('HINCRBY', wkey(worker), 'successful_job_count', w[1]) end
    if w[2] > 0 then redis.call('HINCRBY', wkey(worker), 'failed_job_count', w[2]) end
    redis.call('HINCRBYFLOAT', wkey(worker), 'total_working_time', w[3])
  end
end
