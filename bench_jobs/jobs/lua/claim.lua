-- include: dispatch_common
-- claim: ARG = bench_id, worker, now, now_iso, n, queue...  -> up to n jobs' fields (10 each) or nil
local queues = {}
for i = 6, #ARG do queues[#queues + 1] = ARG[i] end
return claim(ARG[2], tonumber(ARG[3]), ARG[4], queues, tonumber(ARG[5]) or 1)
