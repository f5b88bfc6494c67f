-- Index repair: K[1] = the index (a per-site one, or the bench-wide started set), ARG = bench_id,
-- state, id... Drops the ids whose job hash is gone or no longer in `state` (another tool — rq's
-- Queue.empty(), Job.delete(), rq-dashboard — changed them without knowing our indexes). Checked and
-- removed in one script, so a job that moves into `state` meanwhile is never dropped. Returns the
-- number of drifted ids removed: only ids still in the index count, since the ids were read (ZSCAN;
-- LRANGE of a queued LIST) before this call and a worker may have moved one on meanwhile; nor does an
-- ended job whose hash expired (result_ttl / failure_ttl: the finished, failed and canceled indexes
-- are trimmed lazily, so its entry outlives it by design).
local key, state = K[1], ARG[2]
local allowed = {[state] = true}
if state == 'failed' then allowed['stopped'] = true end
local expires = state == 'finished' or state == 'failed' or state == 'canceled'
-- The bench-wide started set (`jobs repair`) is kept in step with RQ's wip registry, as the sweep's
-- `unstart` does for the stale entries it finds.
local started = key == STARTED
local removed = 0
for i = 3, #ARG do
  local f = redis.call('HMGET', jkey(ARG[i]), 'status', 'origin', 'bj_queue')
  local status = f[1]
  if not status or not allowed[status] then
    local gone = state == 'queued' and qidx_call('LREM', key, 0, ARG[i]) or redis.call('ZREM', key, ARG[i])
    if status or not expires then removed = removed + gone end
    local q = started and queue_of(f[3], f[2])
    if q then redis.call('ZREM', WIP_P .. q, ARG[i]) end
  end
end
return removed
