-- enqueue_many: enqueue a batch of jobs that share queue, site, method and options, in one script.
-- The bulk twin of enqueue.lua (same checks per job, same writes), with the per-queue writes
-- (RPUSH, index ZADD, wake tokens, registrations) done once per batch instead of once per job.
--
-- KEYS[1] rq:queue:{B}:{q}  KEYS[2] rq:queues  KEYS[3] bj:{B}:idx:queued:{q}:{s}
-- KEYS[4] bj:{B}:idx:scheduled:{q}:{s}  KEYS[5] bj:{B}:sites  KEYS[6] bj:{B}:wake:{q}  KEYS[7] bj:{B}:scheduled
-- ARGV[1] site  ARGV[2] deduplicate 0|1  ARGV[3] max_queued (0 = none)  ARGV[4] enqueue time
-- ARGV[5] index prefix "bj:{B}:idx:"  ARGV[6] n = number of common field/value ARGV entries
-- ARGV[7 .. 6+n] common field/value pairs (same for every job of the batch)
-- then per job 6 entries: id, flags ("f" fresh id, "a" at front), run_at or "", kwargs json, data, description
-- Returns {codes, queued}: codes has one letter per job in order (e enqueued, d duplicate, c conflict,
-- o overloaded); queued is the queue's length as the last overloaded job saw it.
-- (A compact reply: parsing a 2-entry-per-job array would cost the client more than the whole script.)

local queue_key, site, dedupe = KEYS[1], ARGV[1], ARGV[2]
local limit, now, prefix = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local ncommon = tonumber(ARGV[6])
local ACTIVE = {queued = true, started = true, scheduled = true, deferred = true}

local fields = {}
for i = 7, 6 + ncommon do fields[#fields + 1] = ARGV[i] end
local base = #fields

local queued = (limit > 0) and redis.call('LLEN', queue_key) or 0
local tail, front, index = {}, {}, {}
local out = {}
local CODE = {duplicate = 'd', conflict = 'c', overloaded = 'o'}

local function drop_old(job_key, job_id, old)
  redis.call('DEL', job_key)
  if old[2] and old[3] then
    for _, state in ipairs({'finished', 'failed', 'canceled'}) do
      redis.call('ZREM', prefix .. state .. ':' .. old[2] .. ':' .. old[3], job_id)
    end
  end
  if old[4] then redis.call('ZREM', 'rq:failed:' .. old[4], job_id) end
end

for i = 7 + ncommon, #ARGV, 6 do
  local job_id, flags, run_at = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local job_key = 'rq:job:' .. job_id
  local old = {}
  local status = nil
  if not string.find(flags, 'f', 1, true) then
    old = redis.call('HMGET', job_key, 'status', 'bj_queue', 'bj_site', 'origin')
    if old[1] and ACTIVE[old[1]] then status = (dedupe == '1') and 'duplicate' or 'conflict' end
  end
  if not status and limit > 0 and queued >= limit then status = 'overloaded' end
  if status then
    out[#out + 1] = CODE[status]
  else
    if #old > 0 then drop_old(job_key, job_id, old) end  -- not a fresh id: clear any old hash
    for j = base + 1, #fields do fields[j] = nil end
    fields[base + 1], fields[base + 2] = 'bj_kwargs', ARGV[i + 3]
    fields[base + 3], fields[base + 4] = 'data', ARGV[i + 4]
    fields[base + 5], fields[base + 6] = 'description', ARGV[i + 5]
    if run_at ~= '' then
      fields[base + 7], fields[base + 8] = 'status', 'scheduled'
      fields[base + 9], fields[base + 10] = 'bj_run_at', run_at
      redis.call('HSET', job_key, unpack(fields))
      redis.call('ZADD', KEYS[7], run_at, job_id)
      redis.call('ZADD', KEYS[4], run_at, job_id)
      redis.call('ZADD', 'rq:scheduled:' .. string.sub(queue_key, 10), run_at, job_id) -- [rq-compat]
    else
      fields[base + 7], fields[base + 8] = 'status', 'queued'
      redis.call('HSET', job_key, unpack(fields))
      if string.find(flags, 'a', 1, true) then front[#front + 1] = job_id else tail[#tail + 1] = job_id end
      index[#index + 1] = now
      index[#index + 1] = job_id
      queued = queued + 1
    end
    out[#out + 1] = 'e'
  end
end

redis.call('SADD', KEYS[5], site)
if #tail + #front > 0 then
  if #tail > 0 then redis.call('RPUSH', queue_key, unpack(tail)) end
  for _, job_id in ipairs(front) do redis.call('LPUSH', queue_key, job_id) end
  redis.call('ZADD', KEYS[3], unpack(index))
  redis.call('SADD', KEYS[2], queue_key)
  local tokens = {}
  for t = 1, math.min(#tail + #front, 1000) do tokens[t] = '1' end
  redis.call('LPUSH', KEYS[6], unpack(tokens))
  redis.call('LTRIM', KEYS[6], 0, 999)
end
return {table.concat(out), queued}
