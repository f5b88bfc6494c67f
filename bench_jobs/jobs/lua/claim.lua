-- claim: ARGV = bench_id, worker, now, now_iso, queue...  -> job fields or nil
local queues = {}
for i = 5, #ARGV do queues[#queues + 1] = ARGV[i] end
return claim(ARGV[2], tonumber(ARGV[3]), ARGV[4], queues)
