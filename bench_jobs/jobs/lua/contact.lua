-- A bench process reached Redis (a worker registering): ARGV = bench_id, dead_after_ms. See `contact`.
contact(tonumber(ARGV[2]))
return 1
