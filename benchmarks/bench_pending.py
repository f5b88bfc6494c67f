"""show-pending-jobs with a big backlog: bench-jobs' indexes against the scan plain RQ needs.

Loads N jobs (default 1,000,000) over 10 sites (taking turns in blocks of 500) into ONE shared
`default` queue with the real bulk enqueue, on a private redis-server, then times for one site:
  - bench-jobs: `pending_summary` in-process, and the `show-pending-jobs` CLI as a subprocess;
  - plain RQ: RQ keeps no per-site index, so counting one site's jobs means reading every id of the
    shared queue and each job's site. Done here as cheaply as RQ allows (LRANGE + pipelined HGET of
    one field, 10,000 per round trip), so the ratio is a lower bound: RQ's Job.fetch_many reads whole hashes.
The bench-jobs timing is also taken at a small backlog, to show it does not grow with the backlog.

    .venv/bin/python benchmarks/bench_pending.py            # 1,000,000 jobs (about 1 GB in Redis)
    .venv/bin/python benchmarks/bench_pending.py --jobs 100000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import ENV, RedisProcess, make_bench, private_redis, scratch_dir

from bench_jobs.jobs.keys import Keys, job_key
from bench_jobs.jobs.queries import pending_summary
from bench_jobs.jobs.store import JobSpec, enqueue_many

SITES = [f"site{n}.bench" for n in range(10)]
SMALL = 10_000
CHUNK = 50_000
BLOCK = 500


def load(client, keys: Keys, start: int, stop: int) -> float:
    """Enqueue jobs start..stop with the bulk enqueue; returns jobs/s.

    Sites take turns in blocks of BLOCK jobs: the queue is shared and interleaved, and each block is
    one run of equal options, which enqueue_many sends as one script call.
    """
    began = time.perf_counter()
    for low in range(start, stop, CHUNK):
        specs = (JobSpec(site=SITES[n // BLOCK % len(SITES)], queue="default", method="testapp.jobs.add",
                         kwargs={"a": n, "b": 1}, timeout=300) for n in range(low, min(low + CHUNK, stop)))
        enqueue_many(client, keys, specs)
    return (stop - start) / (time.perf_counter() - began)


def time_summary(client, bench, site: str, runs: int = 50) -> float:
    """Median seconds of one in-process show-pending-jobs for one site (all queues, limit 20)."""
    queues = bench.queue_names()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        doc = pending_summary(client, bench, [site], queues, 20)
        samples.append(time.perf_counter() - began)
    assert len(doc["queues"][1]["jobs"]) == 20
    return statistics.median(samples)


def time_cli(bench_path: Path, site: str, runs: int = 5) -> tuple[float, int]:
    """Median wall seconds of `bench-jobs --site S show-pending-jobs --format json` as a subprocess."""
    samples, pending = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "bench_jobs", "--bench", str(bench_path), "--site", site,
                              "show-pending-jobs", "--format", "json"], capture_output=True, text=True,
                             check=True, env=ENV)
        samples.append(time.perf_counter() - began)
        pending = json.loads(out.stdout)["queues"][1]["pending"]
    return statistics.median(samples), pending


def time_import_redis(runs: int = 5) -> float:
    """Median wall seconds of a bare `python -c 'import redis'`: the floor of any CLI that talks to Redis."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import redis"], check=True, env=ENV)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def rq_scan_count(client, keys: Keys, site: str) -> tuple[float, int]:
    """What plain RQ must do: read every id of the shared queue and each job's site."""
    began = time.perf_counter()
    ids = client.lrange(keys.queue("default"), 0, -1)
    count = 0
    for low in range(0, len(ids), 10_000):
        pipe = client.pipeline(transaction=False)
        for job_id in ids[low:low + 10_000]:
            pipe.hget(job_key(job_id.decode()), "bj_site")
        count += sum(1 for value in pipe.execute() if value == site.encode())
    return time.perf_counter() - began, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to load (default 1,000,000)")
    args = parser.parse_args()
    total = max(args.jobs, SMALL)
    with scratch_dir("bench-pending-") as tmp, private_redis(tmp / "redis") as server:
        run(server, tmp / "bench", total)


def run(server: RedisProcess, path: Path, total: int) -> None:
    bench = make_bench(path, server, sites=tuple(SITES))
    client, keys, site = server.client(), Keys(bench.bench_id), SITES[3]

    rate = load(client, keys, 0, SMALL)
    small = time_summary(client, bench, site)
    small_cli, _ = time_cli(path, site)
    print(f"loaded {SMALL:,} jobs ({rate:,.0f} jobs/s); show-pending-jobs in-process: {small * 1000:.2f} ms, "
          f"CLI: {small_cli * 1000:.0f} ms")

    rate = load(client, keys, SMALL, total)
    memory = client.info("memory")["used_memory_human"]
    print(f"loaded {total:,} jobs across {len(SITES)} sites in one queue ({rate:,.0f} jobs/s, Redis {memory})")

    big = time_summary(client, bench, site)
    cli, pending = time_cli(path, site)
    floor = time_import_redis()
    rq_seconds, rq_count = rq_scan_count(client, keys, site)
    assert pending == rq_count, (pending, rq_count)

    print(f"\none site ({site}: {pending:,} of {total:,} jobs pending)")
    print(f"  bench-jobs show-pending-jobs, in-process  {big * 1000:9.2f} ms   "
          f"(at {SMALL:,} jobs: {small * 1000:.2f} ms, x{big / small:.2f})")
    print(f"  bench-jobs show-pending-jobs, CLI         {cli * 1000:9.2f} ms   (whole process, median of 5; "
          f"at {SMALL:,} jobs: {small_cli * 1000:.0f} ms)")
    print(f"    beside it, `python -c 'import redis'`   {floor * 1000:9.2f} ms   (Python start-up + redis-py's import, "
          "which the listing commands skip)")
    print(f"  plain RQ: scan the shared queue           {rq_seconds * 1000:9.2f} ms   (lower bound)")
    print(f"  ratio RQ scan / bench-jobs in-process     {rq_seconds / big:9.0f}x")
    print(f"  ratio RQ scan / bench-jobs CLI            {rq_seconds / cli:9.1f}x")
    print(f"target: CLI < 0.5 s at {total:,} jobs: {'met' if cli < 0.5 else 'NOT met'} ({cli * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
