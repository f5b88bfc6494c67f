-- Shared by enqueue.lua and enqueue_many.lua (each starts with `-- include: enqueue_common`): how a
-- new job meets whatever its id names already.

-- A job in one of these states owns its id: a new enqueue under it is a duplicate or a conflict.
local ACTIVE = {queued = true, started = true, scheduled = true, deferred = true}

-- {status, bj_queue, bj_site, origin} of the hash the id names; {} for a fresh id (flag "f": generated
-- by the caller and made free by `free_id`, it names no existing job, so the read is skipped).
local function previous(job_key, flags)
  if string.find(flags, 'f', 1, true) then return {} end
  local old = redis.call('HMGET', job_key, 'status', 'bj_queue', 'bj_site', 'origin')
  old[2] = queue_of(old[2], old[4]) or false
  return old
end

-- A fresh id (flag "f") comes from 72 random bits (Keys.new_job_id): one naming an existing hash is
-- unlikely, not impossible, and that hash is someone else's job: never overwrite it. Such an id is
-- lengthened (`-1`, `-2`, ...) until it names nothing; the caller learns the id from the reply.
local function free_id(job_id, flags)
  if not string.find(flags, 'f', 1, true) or redis.call('EXISTS', jkey(job_id)) == 0 then return job_id end
  local n = 1
  while redis.call('EXISTS', jkey(job_id .. '-' .. n)) == 1 do n = n + 1 end
  return job_id .. '-' .. n
end

-- A finished/failed/... job under the same id is replaced: drop its hash and end-state entries so no
-- stale result or traceback survives next to the new job. `old` is what `previous` read.
local function drop_old(job_key, job_id, old)
  redis.call('DEL', job_key)
  if old[2] and old[3] then
    for _, state in ipairs({'finished', 'failed', 'canceled'}) do
      redis.call('ZREM', idx(state, old[2], old[3]), job_id)
    end
  end
  if old[4] and string.sub(old[4], 1, #ORIGIN_P) == ORIGIN_P then
    redis.call('ZREM', FAILED_P .. string.sub(old[4], #ORIGIN_P + 1), job_id)
  end
end
