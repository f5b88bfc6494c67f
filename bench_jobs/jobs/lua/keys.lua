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

-- The per-site queued index `idx('queued', q, site)` is a LIST of ids in queue order: every write
-- mirrors the queue list's (RPUSH / LPUSH as the job went to the tail or the front), so a claim finds
-- its jobs at the head. Benches written before this layout hold a ZSET there (scored by enqueue time):
-- the first list command on one fails WRONGTYPE, which turns it into the list of its ids in score order,
-- once and inside the script, so a bench already converted pays nothing for the check.
local function queued_convert(key)
  if redis.call('TYPE', key)['ok'] ~= 'zset' then return end
  local ids = redis.call('ZRANGE', key, 0, -1)
  redis.call('DEL', key)
  for i = 1, #ids, 1000 do redis.call('RPUSH', key, unpack(ids, i, math.min(i + 999, #ids))) end
end
local function qidx_call(command, key, ...)
  local reply = redis.pcall(command, key, ...)
  if type(reply) == 'table' and reply['err'] then
    if string.sub(reply['err'], 1, 9) ~= 'WRONGTYPE' then error(reply) end
    queued_convert(key)
    return redis.call(command, key, ...)
  end
  return reply
end
-- Push ids to the tail (or, `front`, the head: LPUSH, so the last one ends first, as on the queue).
local function qidx_push(q, site, front, ...)
  return qidx_call(front and 'LPUSH' or 'RPUSH', idx('queued', q, site), ...)
end
-- Take one id out if it is among the first `max` entries (LPOS bounds the scan; LREM then stops at
-- it): a purge takes ids from the head, a cancel by id looks as far as it likes; what is left behind
-- is dropped by repair.py (workers skip ids that are no longer queued).
local function qidx_remove(q, site, id, max)
  local key = idx('queued', q, site)
  if qidx_call('LPOS', key, id, 'MAXLEN', max) then redis.call('LREM', key, 1, id) end
end
-- Take claimed ids out: they are the head of the list in that order (the claim pops the queue's head,
-- of which a site's list is the subsequence), so one LPOP; else (a list some tool changed) what was
-- popped goes back and the ids are taken out one by one.
local function qidx_take(q, site, ids)
  local key = idx('queued', q, site)
  local head = qidx_call('LPOP', key, #ids)
  if not head then return end
  local same = #head == #ids
  for i = 1, #ids do same = same and head[i] == ids[i] end
  if same then return end
  for i = #head, 1, -1 do redis.call('LPUSH', key, head[i]) end
  for _, id in ipairs(ids) do redis.call('LREM', key, 1, id) end
end
