-- enqueue: put one job on its queue (or on the scheduled set), atomically. See docs/storage.md.
--
-- KEYS[1] rq:job:{id}               KEYS[2] rq:queue:{B}:{q}        KEYS[3] rq:queues
-- KEYS[4] bj:{B}:idx:queued:{q}:{s} KEYS[5] bj:{B}:idx:scheduled:{q}:{s}
-- KEYS[6] bj:{B}:sites              KEYS[7] bj:{B}:wake:{q}         KEYS[8] bj:{B}:scheduled
-- KEYS[9] once key (optional)
-- ARGV[1] job id  ARGV[2] site  ARGV[3] at_front 0|1  ARGV[4] deduplicate 0|1
-- ARGV[5] max_queued (0 = no limit)  ARGV[6] enqueue time (epoch)  ARGV[7] run_at epoch or ""
-- ARGV[8] once ttl seconds (0 = none)  ARGV[9] index prefix "bj:{B}:idx:"
-- ARGV[10] flags: "f" = fresh id (generated here, cannot name an existing job: skip the dedupe read)
-- ARGV[11..] hash field/value pairs (status and bj_run_at already set by the caller)
-- Returns {status, id, count}: status is enqueued | duplicate | conflict | skipped | overloaded.

local job_key, queue_key = KEYS[1], KEYS[2]
local job_id, site, flags = ARGV[1], ARGV[2], ARGV[10]
local ACTIVE = {queued = true, started = true, scheduled = true, deferred = true}

-- Read-only checks first, so a refused call writes nothing.
local old = {}
if not string.find(flags, 'f', 1, true) then
  old = redis.call('HMGET', job_key, 'status', 'bj_queue', 'bj_site', 'origin')
  if old[1] and ACTIVE[old[1]] then
    -- An active job owns this id: with deduplicate it wins; without, the caller must not overwrite it.
    if ARGV[4] == '1' then return {'duplicate', job_id, 0} end
    return {'conflict', job_id, 0}
  end
end

if KEYS[9] and redis.call('EXISTS', KEYS[9]) == 1 then
  return {'skipped', job_id, 0}
end

local limit = tonumber(ARGV[5])
if limit > 0 then
  local count = redis.call('LLEN', queue_key)
  if count >= limit then return {'overloaded', job_id, count} end
end

-- Writes. A finished/failed/... job under the same id is replaced: drop its hash and end-state entries
-- so no stale result or traceback survives next to the new job.
if #old > 0 then  -- not a fresh id: clear whatever hash was there, even one without a status
  redis.call('DEL', job_key)
  if old[2] and old[3] then
    for _, state in ipairs({'finished', 'failed', 'canceled'}) do
      redis.call('ZREM', ARGV[9] .. state .. ':' .. old[2] .. ':' .. old[3], job_id)
    end
  end
  if old[4] then redis.call('ZREM', 'rq:failed:' .. old[4], job_id) end
end

if KEYS[9] then
  local ttl = tonumber(ARGV[8])
  if ttl > 0 then redis.call('SET', KEYS[9], job_id, 'EX', ttl) else redis.call('SET', KEYS[9], job_id) end
end

redis.call('HSET', job_key, unpack(ARGV, 11, #ARGV))
redis.call('SADD', KEYS[6], site)

if ARGV[7] ~= '' then
  local due = tonumber(ARGV[7])
  redis.call('ZADD', KEYS[8], due, job_id)
  redis.call('ZADD', KEYS[5], due, job_id)
  redis.call('ZADD', 'rq:scheduled:' .. string.sub(queue_key, 10), due, job_id) -- [rq-compat] RQ's registry
  return {'enqueued', job_id, 0}
end

if ARGV[3] == '1' then redis.call('LPUSH', queue_key, job_id) else redis.call('RPUSH', queue_key, job_id) end
redis.call('ZADD', KEYS[4], ARGV[6], job_id)
redis.call('SADD', KEYS[3], queue_key)
redis.call('LPUSH', KEYS[7], '1')
redis.call('LTRIM', KEYS[7], 0, 999)
return {'enqueued', job_id, 0}
