-- jobs delete / purge: remove jobs entirely (hash, queue list entry, every index and registry).
-- A started job is refused: its worker still runs it (stop it first).
-- ARG: bench_id, lrem_max, id...  (lrem_max as in manage_cancel.lua)
-- Returns one code per id: "ok" | "missing" | "status:started".
local lrem_max = tonumber(ARG[2])
-- (started jobs are refused, and have no per-site index: jobs/running.py; queued ones leave their
-- site's LIST above)
local states = {'scheduled', 'failed', 'finished', 'canceled'}
local out = {}
for i = 3, #ARG do
  local id = ARG[i]
  local f = bench_job(id)
  if not f then
    out[#out + 1] = 'missing'
  elseif f[1] == 'started' then
    out[#out + 1] = 'status:started'
  else
    local status, queue, site = f[1], f[3], f[4]
    local rq_q = string.sub(f[2], #ORIGIN_P + 1)
    if status == 'queued' and redis.call('LLEN', qkey(rq_q)) <= lrem_max then
      redis.call('LREM', qkey(rq_q), 0, id)
    end
    if status == 'queued' then qidx_remove(queue, site, id, lrem_max) end
    for _, state in ipairs(states) do
      redis.call('ZREM', idx(state, queue, site), id)
    end
    redis.call('ZREM', SCHEDULED, id)
    redis.call('ZREM', RQ_SCHEDULED_P .. rq_q, id) -- [rq-compat]
    redis.call('DEL', RESULTS_P .. id)
    redis.call('ZREM', STARTED, id)
    redis.call('ZREM', WIP_P .. rq_q, id)
    redis.call('ZREM', FAILED_P .. rq_q, id)
    redis.call('ZREM', FINISHED_P .. rq_q, id)
    redis.call('DEL', jkey(id))
    out[#out + 1] = 'ok'
  end
end
return out
