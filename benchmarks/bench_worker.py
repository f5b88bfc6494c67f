"""Worker throughput and idle latency: bench-jobs against RQ's SimpleWorker, in the same run.

  - drain: N no-op jobs queued first, then two worker processes in burst mode
    (`bench-jobs worker --no-fork --burst` vs `rq worker -w rq.worker.SimpleWorker --burst`);
    rate = N / (last job's ended_at - first job's started_at), so process start-up is not counted.
  - idle latency: one idle worker; a job is enqueued every 20 ms; latency = its started_at minus
    the enqueue time (same machine, same clock). p50 and p90.
Each side uses its own private redis-server on a free port.

    .venv/bin/python benchmarks/bench_worker.py                 # 20,000 jobs (RQ: 4,000), 200 samples
    .venv/bin/python benchmarks/bench_worker.py --jobs 50000 --rq-jobs 8000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import ENV, make_bench, private_redis, scratch_dir
from _common import parse_stamp as parse

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_job, enqueue_many

NOOP = "testapp.jobs.noop"
SITE = "site1.test"


def span(client, ids: list[str]) -> float:
    """Seconds from the first job's start to the last job's end."""
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at", "status")
        rows = pipe.execute()
    done = [r for r in rows if r[2] == b"finished"]
    assert len(done) == len(ids), f"only {len(done)} of {len(ids)} finished"
    return max(parse(r[1]) for r in done) - min(parse(r[0]) for r in done)


def run_all(commands: list[list[str]], cwd: Path) -> None:
    procs = [subprocess.Popen(cmd, env=ENV, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for cmd in commands]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]


def idle_latency(client, cmd: list[str], ready: Callable[[], object], enqueue: Callable[[], str],
                 samples: int) -> list[float]:
    """Start one worker with `cmd`; enqueue `samples` jobs 20 ms apart and measure each one's
    enqueue -> started_at delay (the worker idles between jobs)."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not ready():
            time.sleep(0.05)
        time.sleep(0.5)
        lat = []
        for _ in range(samples):
            t0 = time.time()
            job_id = enqueue()
            # read once the job ended: then `started_at` is the worker's time of the job's start on both
            # sides (bench-jobs' claim writes one before, which the finish replaces)
            while not all(stamps := client.hmget(f"rq:job:{job_id}", "started_at", "ended_at")):
                time.sleep(0.0005)
            lat.append(parse(stamps[0]) - t0)
            time.sleep(0.02)
        return lat
    finally:
        proc.terminate()
        proc.wait(30)


# -- bench-jobs ---------------------------------------------------------------------------------
def ours(tmp: Path, jobs: int, samples: int) -> tuple[float, list[float]]:
    with private_redis(tmp / "redis-ours") as server:
        bench = make_bench(tmp / "bench", server, sites=(SITE,))
        client, keys = server.client(), Keys(bench.bench_id)
        specs = [JobSpec(site=SITE, queue="default", method=NOOP, kwargs={}, timeout=300) for _ in range(jobs)]
        ids = [r.id for r in enqueue_many(client, keys, specs)]
        worker = [sys.executable, "-m", "bench_jobs", "--bench", str(bench.path), "worker", "--no-fork", "--quiet"]
        run_all([[*worker, "--burst"]] * 2, tmp)
        rate = jobs / span(client, ids)
        client.flushdb()
        lat = idle_latency(client, worker, lambda: client.scard(keys.workers()), lambda: enqueue_job(
            client, keys, job_id=None, site=SITE, queue="default", method=NOOP, kwargs={}, timeout=300).id, samples)
        return rate, lat


# -- RQ -----------------------------------------------------------------------------------------
def rq_side(tmp: Path, jobs: int, samples: int) -> tuple[float, list[float]]:
    from rq import Queue

    with private_redis(tmp / "redis-rq") as server:
        client = server.client()
        queue = Queue("default", connection=client)
        ids = [j.id for j in queue.enqueue_many([Queue.prepare_data(NOOP) for _ in range(jobs)])]
        rq_cmd = [str(Path(sys.executable).parent / "rq"), "worker", "-u", server.url, "-w", "rq.worker.SimpleWorker",
                  "-q", "default"]
        run_all([[*rq_cmd, "--burst"]] * 2, tmp)
        rate = jobs / span(client, ids)
        client.flushdb()
        lat = idle_latency(client, rq_cmd, lambda: client.keys("rq:worker:*"), lambda: queue.enqueue(NOOP).id,
                           samples)
        return rate, lat


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rq-jobs", type=int, default=4_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with scratch_dir("bench-worker-") as tmp:
        our_rate, our_lat = ours(tmp, args.jobs, args.samples)
        rq_rate, rq_lat = rq_side(tmp, args.rq_jobs, args.samples)
    print(f"drain, 2 processes   bench-jobs --no-fork: {our_rate:8.0f} jobs/s ({args.jobs} jobs)")
    print(f"                     RQ SimpleWorker:      {rq_rate:8.0f} jobs/s ({args.rq_jobs} jobs)")
    print(f"                     ratio:                {our_rate / rq_rate:8.1f}x")
    print(f"idle latency p50/p90 bench-jobs:           {pct(our_lat, 50):6.2f} / {pct(our_lat, 90):6.2f} ms")
    print(f"                     RQ SimpleWorker:      {pct(rq_lat, 50):6.2f} / {pct(rq_lat, 90):6.2f} ms")
    drain_ok = our_rate >= 2_000 and our_rate >= 5 * rq_rate
    print(f"drain target >= 2,000 jobs/s and >= 5x RQ: {met(drain_ok)} ({our_rate:,.0f}, {our_rate / rq_rate:.1f}x)")
    print(f"latency target p50 <= 2 ms: {met(pct(our_lat, 50) <= 2)} ({pct(our_lat, 50):.2f} ms)")


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
