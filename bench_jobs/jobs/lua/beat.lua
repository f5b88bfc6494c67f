-- include: dispatch_common
-- A worker's heartbeat. ARG = bench_id, worker, alive_ms, now_iso, job_id ('' when idle).
-- Refreshes the alive key (and the bench's contact, see `contact`), then reads whether the worker is
-- still registered and the job still started by it: read after the refresh, so a sweep in between
-- cannot make a "still yours" answer stale. Returns {registered (0/1), job status, job owner}.
local worker, alive_ms, iso, id = ARG[2], tonumber(ARG[3]), ARG[4], ARG[5]
contact(alive_ms)
redis.call('SET', ALIVE_P .. worker, '1', 'PX', alive_ms)
local registered = redis.call('SISMEMBER', WORKERS, worker)
if registered == 1 then redis.call('HSET', wkey(worker), 'last_heartbeat', iso) end
if id == '' then return {registered, false, false} end
local f = redis.call('HMGET', jkey(id), 'status', 'worker_name')
return {registered, f[1], f[2]}
