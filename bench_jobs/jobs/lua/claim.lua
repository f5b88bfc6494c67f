-- include: dispatch_common
-- claim: ARG = bench_id, worker, now, now_iso, queue...  -> job fields or nil
local queues = {}
for i = 5, #ARG do queues[#queues + 1] = ARG[i] end
return claim(ARG[2], tonumber(ARG[3]), ARG[4], queues)
