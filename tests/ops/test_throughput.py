"""Per-minute/hour counters kept by finish.lua: the dashboard chart and `metrics` read the same figures."""

from __future__ import annotations

from bench_jobs.jobs.keys import Keys
from bench_jobs.ops import throughput
from tests.worker_helpers import WorkerProcs, add_job, wait_status


def test_finished_and_failed_runs_are_counted_per_minute_and_hour(bench, tmp_path):
    client, bid = bench.client(), bench.bench.bench_id
    ok = [add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 1, "b": 2}) for _ in range(3)]
    bad = add_job(client, bid, "site2.test", "testapp.jobs.fail", {"message": "x"}, queue="short")
    procs = WorkerProcs(bench, tmp_path)
    try:
        procs.start("--queue", "short,default", "--burst").wait(60)
    finally:
        procs.stop_all()
    for job_id in ok:
        wait_status(client, job_id, "finished")
    wait_status(client, bad, "failed")
    keys = Keys(bid)
    hour = throughput.series(client, keys, "hour")
    assert len(hour) == 60 and sum(r["ok"] for r in hour) == 3 and sum(r["failed"] for r in hour) == 1
    assert sum(r["ok"] for r in throughput.series(client, keys, "day", site="site2.test")) == 0
    assert sum(r["failed"] for r in throughput.series(client, keys, "day", queue="short")) == 1
    ttl = client.ttl(keys.throughput("m", int(hour[-1]["t"] // 60)))
    assert 0 < ttl <= 7200  # bounded: the minute buckets expire
    text = bench.cli("metrics").stdout
    assert 'bench_jobs_jobs_ended_last_hour{outcome="ok",queue="default",site="site1.test"} 3.0' in text
    assert 'bench_jobs_jobs_ended_last_hour{outcome="failed",queue="short",site="site2.test"} 1.0' in text
