-- Key names. bench_jobs/jobs/scripts.py prepends this file to every script and passes, before the
-- script's own keys and arguments, what bench_jobs/jobs/keys.py says (Keys.script_keys / script_prefixes):
-- KEYS[1..8] the bench's bench-wide keys; ARGV[1..20] RQ's two shared sets, then the prefixes of the keys
-- whose last part (a job id, a queue, a site, a worker) is only known while the script runs
-- (EXECUTIONS_S is a suffix of a worker key). A script's own keys are K[1..], its own arguments ARG[1..].
-- No script spells a key name of its own.
local STARTED, SCHEDULED, WORKERS, SITES, DURATIONS, SWEEP_LOCK, CONTACT, OUTAGE = unpack(KEYS, 1, 8)
local RQ_QUEUES, RQ_WORKERS, JOB_P, ORIGIN_P, QUEUE_P, WIP_P, FAILED_P, FINISHED_P, WORKERS_OF_P, WORKER_P,
  IDX_P, WAKE_P, ALIVE_P, CONTROL_P, TPUT_MINUTE_P, TPUT_HOUR_P, RQ_SCHEDULED_P, RESULTS_P, EXECUTION_P,
  EXECUTIONS_S = unpack(ARGV, 1, 20)
local K, ARG = {}, {}
for i = 9, #KEYS do K[#K + 1] = KEYS[i] end
for i = 21, #ARGV do ARG[#ARG + 1] = ARGV[i] end

local function jkey(id) return JOB_P .. id end
local function qkey(q) return QUEUE_P .. q end
local function wkey(name) return WORKER_P .. name end
local function idx(state, q, site) return IDX_P .. state .. ':' .. q .. ':' .. site end

-- The short queue name of a job: `bj_queue` in hashes of the old layout, else the part of `origin` after
-- the bench's prefix (nil when the origin is not one of this bench's queues).
local function queue_of(bj_queue, origin)
  if bj_queue then return bj_queue end
  if origin and string.sub(origin, 1, #ORIGIN_P) == ORIGIN_P then return string.sub(origin, #ORIGIN_P + 1) end
  return nil
end

-- A job of this bench: {status, origin, queue, site, extra fields...}, or nil when it is gone or
-- belongs to another bench sharing this Redis (its origin is not one of our queues).
local function bench_job(id, ...)
  local f = redis.call('HMGET', jkey(id), 'status', 'origin', 'bj_queue', 'bj_site', ...)
  if not f[1] or not f[2] or not f[4] or string.sub(f[2], 1, #ORIGIN_P) ~= ORIGIN_P then
    return nil
  end
  f[3] = queue_of(f[3], f[2])
  return f
end
