-- Index repair: K[1] = the index, ARG = bench_id, state, id... Drops the ids whose job hash is gone or no
-- longer in `state` (another tool — rq's Queue.empty(), Job.delete(), rq-dashboard — changed them
-- without knowing our indexes). Checked and removed in one script, so a job that moves into
-- `state` meanwhile is never dropped. Returns the number of drifted ids removed: only ids still in the
-- index count, since the ids were read (ZSCAN) before this call and a worker may have moved one on
-- meanwhile; nor does an ended job whose hash expired (result_ttl / failure_ttl: the finished, failed
-- and canceled indexes are trimmed lazily, so its entry outlives it by design).
local key, state = K[1], ARG[2]
local allowed = {[state] = true}
if state == 'failed' then allowed['stopped'] = true end
local expires = state == 'finished' or state == 'failed' or state == 'canceled'
local removed = 0
for i = 3, #ARG do
  local status = redis.call('HGET', jkey(ARG[i]), 'status')
  if not status or not allowed[status] then
    local gone = redis.call('ZREM', key, ARG[i])
    if status or not expires then removed = removed + gone end
  end
end
return removed
