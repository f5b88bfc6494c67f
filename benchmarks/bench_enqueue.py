"""Enqueue rate: bench-jobs against plain RQ, in the same run, on a private redis-server.

  - bulk: `jobstore.enqueue_many` (one enqueue_many.lua call per run of 500 alike jobs, several in
    flight) against RQ's `Queue.enqueue_many` with `Queue.prepare_data` (one pipeline), JSONSerializer;
  - bulk (API): the same through the public `bench_jobs.enqueue_many` (checks method, queue, JSON);
  - single: `jobstore.enqueue_job` (one script, one round trip) against RQ's `Queue.enqueue`.
Both sides build their job descriptions inside the timed part. Each measurement is the best of
--runs, on an emptied database, with no other load on the server.

    .venv/bin/python benchmarks/bench_enqueue.py               # 50,000 bulk, 5,000 single
    .venv/bin/python benchmarks/bench_enqueue.py --jobs 200000 --single 10000 --runs 5
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from _common import RedisProcess, make_bench, private_redis, scratch_dir

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_job, enqueue_many

METHOD = "testapp.jobs.add"
SITE = "site1.bench"


def best_rate(client, runs: int, count: int, work: Callable[[], object]) -> float:
    """Jobs/s of the fastest of `runs` runs, each on an empty database."""
    rates = []
    for _ in range(runs):
        client.flushdb()
        began = time.perf_counter()
        work()
        rates.append(count / (time.perf_counter() - began))
    return max(rates)


def ours_bulk(client, keys: Keys, count: int) -> None:
    specs = (JobSpec(site=SITE, queue="default", method=METHOD, kwargs={"a": n, "b": 1}, timeout=300)
             for n in range(count))
    results = enqueue_many(client, keys, specs)
    assert len(results) == count and results[-1].status == "enqueued"


def rq_bulk(queue, count: int) -> None:
    from rq import Queue

    jobs = queue.enqueue_many([Queue.prepare_data(METHOD, kwargs={"a": n, "b": 1}, timeout=300)
                               for n in range(count)])
    assert len(jobs) == count


def api_bulk(count: int) -> None:
    import bench_jobs

    assert len(bench_jobs.enqueue_many(METHOD, ({"a": n, "b": 1} for n in range(count)))) == count


def ours_single(client, keys: Keys, count: int) -> None:
    for n in range(count):
        enqueue_job(client, keys, job_id=None, site=SITE, queue="default", method=METHOD,
                    kwargs={"a": n, "b": 1}, timeout=300)


def rq_single(queue, count: int) -> None:
    for n in range(count):
        queue.enqueue(METHOD, kwargs={"a": n, "b": 1}, job_timeout=300)


def use_bench(tmp: Path, server: RedisProcess) -> None:
    """A bench with the test app on `server`, as bench_jobs.init() would find it."""
    from bench_jobs.bench import context

    bench = make_bench(tmp / "bench", server, sites=(SITE,))
    context.init(SITE, str(bench.path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50_000, help="jobs per bulk run")
    parser.add_argument("--single", type=int, default=5_000, help="jobs per one-at-a-time run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (the best counts)")
    args = parser.parse_args()

    from rq import Queue
    from rq.serializers import JSONSerializer

    with scratch_dir("bench-enqueue-") as tmp, private_redis(tmp / "redis") as server:
        client = server.client()
        keys = Keys("bench-enqueue")
        queue = Queue("bench-enqueue-rq", connection=client, serializer=JSONSerializer)
        rq_bulk_rate = best_rate(client, args.runs, args.jobs, lambda: rq_bulk(queue, args.jobs))
        use_bench(tmp, server)
        rows = [
            ("bulk", args.jobs,
             best_rate(client, args.runs, args.jobs, lambda: ours_bulk(client, keys, args.jobs)), rq_bulk_rate),
            ("bulk API", args.jobs, best_rate(client, args.runs, args.jobs, lambda: api_bulk(args.jobs)),
             rq_bulk_rate),
            ("single", args.single,
             best_rate(client, args.runs, args.single, lambda: ours_single(client, keys, args.single)),
             best_rate(client, args.runs, args.single, lambda: rq_single(queue, args.single))),
        ]

    print(f"{'mode':<10}{'jobs':>9}{'bench-jobs/s':>15}{'plain RQ/s':>13}{'ratio':>8}")
    for mode, count, ours, theirs in rows:
        print(f"{mode:<10}{count:>9,}{ours:>15,.0f}{theirs:>13,.0f}{ours / theirs:>7.1f}x")
    bulk = rows[0][2]
    print(f"bulk target >= 20,000 jobs/s: {'met' if bulk >= 20_000 else 'NOT met'} ({bulk:,.0f})")


if __name__ == "__main__":
    main()
