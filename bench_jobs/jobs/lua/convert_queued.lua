-- convert_queued: K[1] = a per-site queued index, ARG = bench_id. One of the layout before the LIST (a
-- ZSET scored by enqueue time) becomes the LIST of its ids in score order, at once (keys.lua
-- queued_convert); anything else is left as it is.
queued_convert(K[1])
return 1
