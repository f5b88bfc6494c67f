-- include: dispatch_common
-- A bench process reached Redis (a worker registering): ARG = bench_id, dead_after_ms. See `contact`.
contact(tonumber(ARG[2]))
return 1
