-- include: dispatch_common
-- claim: ARG = bench_id, worker, now, now_iso, n, queue...  -> up to n jobs' fields (10 each) or nil
-- now and now_iso empty: the claim's time is Redis' (it waited behind a BLPOP).
local queues = {}
for i = 6, #ARG do queues[#queues + 1] = ARG[i] end
local now, iso = tonumber(ARG[3]), ARG[4]
if not now then now, iso = redis_now() end
return claim(ARG[2], now, iso, queues, tonumber(ARG[5]) or 1)
