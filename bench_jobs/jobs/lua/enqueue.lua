-- include: enqueue_common
-- enqueue: put one job on its queue (or on the scheduled set), atomically. See docs/storage.md.
--
-- K[1] rq:job:{id}  K[2] rq:queue:{B}:{q}  K[3] bj:{B}:idx:queued:{q}:{s}  K[4] bj:{B}:idx:scheduled:{q}:{s}
-- K[5] bj:{B}:wake:{q}  K[6] once key (optional)
-- ARG[1] job id  ARG[2] site  ARG[3] at_front 0|1  ARG[4] deduplicate 0|1
-- ARG[5] max_queued (0 = no limit)  ARG[6] enqueue time (epoch; unused: the queued index is a LIST)
-- ARG[7] run_at epoch or ""
-- ARG[8] once ttl seconds (0 = none)
-- ARG[9] flags: "f" = fresh id (generated here, cannot name an existing job: skip the dedupe read)
-- ARG[10..] hash field/value pairs (status and bj_run_at already set by the caller)
-- Returns {status, id, count}: status is enqueued | duplicate | conflict | skipped | overloaded.

local job_key, queue_key = K[1], K[2]
local job_id, site, flags = ARG[1], ARG[2], ARG[9]

-- Read-only checks first, so a refused call writes nothing.
local old = previous(job_key, flags)
if old[1] and ACTIVE[old[1]] then
  -- An active job owns this id: with deduplicate it wins; without, the caller must not overwrite it.
  if ARG[4] == '1' then return {'duplicate', job_id, 0} end
  return {'conflict', job_id, 0}
end

if K[6] and redis.call('EXISTS', K[6]) == 1 then
  return {'skipped', job_id, 0}
end

local limit = tonumber(ARG[5])
if limit > 0 then
  local count = redis.call('LLEN', queue_key)
  if count >= limit then return {'overloaded', job_id, count} end
end

-- Writes.
if #old > 0 then drop_old(job_key, job_id, old) end  -- not a fresh id: clear whatever hash was there

if K[6] then
  local ttl = tonumber(ARG[8])
  if ttl > 0 then redis.call('SET', K[6], job_id, 'EX', ttl) else redis.call('SET', K[6], job_id) end
end

redis.call('HSET', job_key, unpack(ARG, 10, #ARG))
redis.call('SADD', SITES, site)

if ARG[7] ~= '' then
  local due = tonumber(ARG[7])
  redis.call('ZADD', SCHEDULED, due, job_id)
  redis.call('ZADD', K[4], due, job_id)
  redis.call('ZADD', RQ_SCHEDULED_P .. string.sub(queue_key, #QUEUE_P + 1), due, job_id) -- [rq-compat] RQ's registry
  return {'enqueued', job_id, 0}
end

if ARG[3] == '1' then redis.call('LPUSH', queue_key, job_id) else redis.call('RPUSH', queue_key, job_id) end
qidx_call(ARG[3] == '1' and 'LPUSH' or 'RPUSH', K[3], job_id)
redis.call('SADD', RQ_QUEUES, queue_key)
if redis.call('LPUSH', K[5], '1') > 1000 then redis.call('LTRIM', K[5], 0, 999) end  -- capped, trimmed past the cap
return {'enqueued', job_id, 0}
