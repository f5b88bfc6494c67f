-- include: enqueue_common
-- enqueue_many: enqueue a batch of jobs that share queue, method and options, in one script.
-- The bulk twin of enqueue.lua (same checks per job, same writes), with the per-queue and per-site
-- writes (RPUSH, index RPUSH per site, wake tokens, registrations) done once per batch, not per job.
--
-- K[1] rq:queue:{B}:{q}  K[2] bj:{B}:wake:{q}   (a job's site indexes are named from its site)
-- ARG[1] deduplicate 0|1  ARG[2] max_queued (0 = none)  ARG[3] enqueue time (unused)  ARG[4] queue name
-- ARG[5] (unused)  ARG[6] n = number of common field/value ARG entries
-- ARG[7 .. 6+n] common field/value pairs (same for every job of the batch)
-- then per job 6 entries: id, flags ("f" fresh id, "a" at front), run_at or "", site, data (RQ's, which
-- holds the kwargs), description
-- Returns {codes, queued, renamed}: codes has one letter per job in order (e enqueued, d duplicate,
-- c conflict, o overloaded); queued is the queue's length as the last overloaded job saw it; renamed
-- lists (position, id) of each fresh id `free_id` had to lengthen (almost always empty).
-- (A compact reply: parsing a 2-entry-per-job array would cost the client more than the whole script.)

local queue_key, dedupe, q = K[1], ARG[1], ARG[4]
local limit = tonumber(ARG[2])
local ncommon = tonumber(ARG[6])

local fields = {}
for i = 7, 6 + ncommon do fields[#fields + 1] = ARG[i] end
local base = #fields

local queued = (limit > 0) and redis.call('LLEN', queue_key) or 0
local tail, front, sites = {}, {}, {}
local out, renamed = {}, {}
local CODE = {duplicate = 'd', conflict = 'c', overloaded = 'o'}

for i = 7 + ncommon, #ARG, 6 do
  local flags, run_at, site = ARG[i + 1], ARG[i + 2], ARG[i + 3]
  local job_id = free_id(ARG[i], flags)
  if job_id ~= ARG[i] then
    renamed[#renamed + 1] = #out + 1
    renamed[#renamed + 1] = job_id
  end
  local job_key = jkey(job_id)
  local old = previous(job_key, flags)
  local status = nil
  if old[1] and ACTIVE[old[1]] then status = (dedupe == '1') and 'duplicate' or 'conflict' end
  if not status and limit > 0 and queued >= limit then status = 'overloaded' end
  if status then
    out[#out + 1] = CODE[status]
  else
    if #old > 0 then drop_old(job_key, job_id, old) end  -- not a fresh id: clear any old hash
    for j = base + 1, #fields do fields[j] = nil end
    fields[base + 1], fields[base + 2] = 'data', ARG[i + 4]
    fields[base + 3], fields[base + 4] = 'description', ARG[i + 5]
    fields[base + 5], fields[base + 6] = 'bj_site', site
    if not sites[site] then sites[site] = {tail = {}, front = {}} end
    if run_at ~= '' then
      fields[base + 7], fields[base + 8] = 'status', 'scheduled'
      fields[base + 9], fields[base + 10] = 'bj_run_at', run_at
      redis.call('HSET', job_key, unpack(fields))
      redis.call('ZADD', SCHEDULED, run_at, job_id)
      redis.call('ZADD', idx('scheduled', q, site), run_at, job_id)
      redis.call('ZADD', RQ_SCHEDULED_P .. string.sub(queue_key, #QUEUE_P + 1), run_at, job_id) -- [rq-compat]
    else
      fields[base + 7], fields[base + 8] = 'status', 'queued'
      redis.call('HSET', job_key, unpack(fields))
      local at_front = string.find(flags, 'a', 1, true)
      if at_front then front[#front + 1] = job_id else tail[#tail + 1] = job_id end
      -- the site's queued index gets the same pushes as the queue (tail ids, then front ones)
      local entries = sites[site]
      if at_front then entries.front[#entries.front + 1] = job_id else entries.tail[#entries.tail + 1] = job_id end
      queued = queued + 1
    end
    out[#out + 1] = 'e'
  end
end

local names = {}
for site, entries in pairs(sites) do
  names[#names + 1] = site
  if #entries.tail > 0 then qidx_push(q, site, false, unpack(entries.tail)) end
  if #entries.front > 0 then qidx_push(q, site, true, unpack(entries.front)) end
end
if #names > 0 then redis.call('SADD', SITES, unpack(names)) end
if #tail + #front > 0 then
  if #tail > 0 then redis.call('RPUSH', queue_key, unpack(tail)) end
  for _, job_id in ipairs(front) do redis.call('LPUSH', queue_key, job_id) end
  redis.call('SADD', RQ_QUEUES, queue_key)
  local tokens = {}
  for t = 1, math.min(#tail + #front, 1000) do tokens[t] = '1' end
  if redis.call('LPUSH', K[2], unpack(tokens)) > 1000 then redis.call('LTRIM', K[2], 0, 999) end
end
return {table.concat(out), queued, renamed}
