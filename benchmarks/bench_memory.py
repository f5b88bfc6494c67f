"""Worker memory over many jobs: RSS of one bench-jobs worker against RQ's SimpleWorker, same run.

N no-op jobs are queued first, then ONE worker process drains them in burst mode
(`bench-jobs worker --no-fork --burst` vs `rq worker -w rq.worker.SimpleWorker --burst`); its
resident set size (VmRSS from /proc) is read each time another N/10 jobs have left the queue.
A worker that leaks grows with every step; a flat one stays within a few MB of its first sample.
The first sample is taken once the worker has done N/10 jobs, so start-up imports are not counted
as growth. Both sides run on their own private redis-server.

    .venv/bin/python benchmarks/bench_memory.py                     # 100,000 jobs (RQ: 20,000)
    .venv/bin/python benchmarks/bench_memory.py --rq-jobs 100000    # same count for RQ (~10 min)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _common import ENV, make_bench, private_redis, scratch_dir

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_many

NOOP = "testapp.jobs.noop"
SITE = "site1.bench"
STEPS = 10
FLAT_PERCENT = 5  # growth past this over the run counts as a leak


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def sample_rss(command: list[str], client, queue_key: str, total: int, cwd: Path) -> list[tuple[int, int]]:
    """Run the worker until it exits; (jobs done, RSS KiB) each time another total/STEPS are done."""
    step = max(total // STEPS, 1)
    samples: list[tuple[int, int]] = []
    proc = subprocess.Popen(command, env=ENV, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while proc.poll() is None:
            done = total - client.llen(queue_key)
            if done >= step * (len(samples) + 1) and len(samples) < STEPS:
                try:
                    samples.append((done, rss_kib(proc.pid)))
                except (FileNotFoundError, ProcessLookupError):
                    break  # exited between poll() and the read
            time.sleep(0.01)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: {err.decode()[-2000:]}")
    left = client.llen(queue_key)
    if left:
        raise RuntimeError(f"the worker left {left} jobs queued")
    return samples


def ours(tmp: Path, jobs: int) -> list[tuple[int, int]]:
    with private_redis(tmp / "redis-ours") as server:
        bench = make_bench(tmp / "bench", server, sites=(SITE,))
        client, keys = server.client(), Keys(bench.bench_id)
        specs = (JobSpec(site=SITE, queue="default", method=NOOP, kwargs={}, timeout=300) for _ in range(jobs))
        enqueue_many(client, keys, specs)
        command = [sys.executable, "-m", "bench_jobs", "--bench", str(bench.path), "worker", "--queue", "default",
                   "--no-fork", "--burst", "--quiet"]
        return sample_rss(command, client, keys.queue("default"), jobs, tmp)


def rq_side(tmp: Path, jobs: int) -> list[tuple[int, int]]:
    from rq import Queue

    with private_redis(tmp / "redis-rq") as server:
        client = server.client()
        queue = Queue("default", connection=client)
        for low in range(0, jobs, 10_000):
            queue.enqueue_many([Queue.prepare_data(NOOP) for _ in range(min(10_000, jobs - low))])
        command = [str(Path(sys.executable).parent / "rq"), "worker", "-u", server.url, "-w", "rq.worker.SimpleWorker",
                   "--burst", "default"]
        return sample_rss(command, client, queue.key, jobs, tmp)


def report(name: str, samples: list[tuple[int, int]]) -> None:
    if len(samples) < 2:
        print(f"{name}: too few samples ({samples})")
        return
    (_, first), (_, last) = samples[0], samples[-1]
    print(f"{name}")
    print("  jobs done  " + " ".join(f"{done:>7,}" for done, _ in samples))
    print("  RSS MiB    " + " ".join(f"{rss / 1024:7.1f}" for _, rss in samples))
    print(f"  first {first / 1024:.1f} MiB, last {last / 1024:.1f} MiB, growth {(last - first) / 1024:+.1f} MiB "
          f"({(last - first) / first * 100:+.1f}%) over {samples[-1][0] - samples[0][0]:,} jobs")
    flat = (last - first) / first * 100 < FLAT_PERCENT
    print(f"  target: flat (growth < {FLAT_PERCENT}%): {'met' if flat else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs for bench-jobs (default 100,000)")
    parser.add_argument("--rq-jobs", type=int, default=20_000,
                        help="jobs for RQ SimpleWorker (default 20,000: it drains ~200/s; 0 skips it)")
    args = parser.parse_args()
    with scratch_dir("bench-memory-") as tmp:
        report(f"bench-jobs worker --no-fork, {args.jobs:,} no-op jobs", ours(tmp, args.jobs))
        if args.rq_jobs:
            report(f"RQ SimpleWorker, {args.rq_jobs:,} no-op jobs", rq_side(tmp, args.rq_jobs))


if __name__ == "__main__":
    main()
