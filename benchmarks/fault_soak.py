"""The fault-injection test of issue 4, large: thousands of jobs with retries, worker processes
SIGKILLed at random moments and restarted; every job must end finished or failed.

    .venv/bin/python benchmarks/fault_soak.py                       # 3,000 jobs, 30 kills
    .venv/bin/python benchmarks/fault_soak.py --jobs 10000 --kills 100 --workers 4 --seed 7
"""

from __future__ import annotations

import argparse
import random
import sys

from _common import make_bench, private_redis, scratch_dir

from tests.conftest import BenchFixture
from tests.fault import run_fault_test
from tests.worker_helpers import WorkerProcs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dead-after", type=float, default=3.0, help="worker_dead_after (seconds)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with scratch_dir("fault-soak-") as tmp, private_redis(tmp / "redis") as server:
        bench = BenchFixture(make_bench(tmp / "bench", server), server)
        bench.set_config(worker_dead_after=args.dead_after, retry_backoff_base=0.05, retry_backoff_max=0.5)
        workers = WorkerProcs(bench, tmp)
        try:
            report = run_fault_test(bench, workers, jobs=args.jobs, kills=args.kills, n_workers=args.workers,
                                    rng=random.Random(args.seed), timeout=1800)
        finally:
            workers.stop_all()
    print(report.summary())
    ok = not report.missing and not report.stuck and report.finished + report.failed == args.jobs
    print("OK: no job lost, none stuck" if ok else f"FAILED: missing={report.missing[:5]} stuck={report.stuck[:5]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
