"""The fault-injection run shared by tests/worker/test_recovery.py (small) and benchmarks/fault_soak.py (large)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import JobSpec, enqueue_many


@dataclass
class FaultReport:
    jobs: int
    kills: int
    finished: int = 0
    failed: int = 0
    ran_twice: int = 0
    extra_runs: int = 0
    never_ran: int = 0
    missing: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.jobs} jobs, {self.kills} SIGKILLs: {self.finished} finished, {self.failed} failed, "
                f"{len(self.missing)} missing, {len(self.stuck)} stuck; {self.ran_twice} ran more than once "
                f"({self.extra_runs} extra runs); {self.seconds:.1f}s")


def run_fault_test(bench, workers, *, jobs: int, kills: int, rng: random.Random, n_workers: int = 2,
                   timeout: float = 300.0) -> FaultReport:
    """`workers` is a tests.worker_helpers.WorkerProcs; jobs sleep a little and may fail (retry=3)."""
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    start = time.monotonic()
    runs_file = workers.log_dir / "runs"  # each run appends its job's number: runs counted by the jobs
    specs = [JobSpec(site="site1.test", queue="default", method="testapp.worker_jobs.fault_job",
                     kwargs={"n": i, "fail": i % 10 == 0, "path": str(runs_file)}, timeout=60, retry=3)
             for i in range(jobs)]
    ids = [r.id for r in enqueue_many(client, keys, specs)]
    procs = [workers.start("--queue", "default", *(["--no-fork"] if i % 2 else [])) for i in range(n_workers)]
    report = FaultReport(jobs, kills)
    for _ in range(kills):
        _wait_registered(client, keys, n_workers)  # so each kill lands on a worker that is working
        time.sleep(rng.uniform(0.05, 0.5))
        victim = rng.randrange(len(procs))
        os.kill(procs[victim].pid, signal.SIGKILL)
        procs[victim].wait(10)
        procs[victim] = workers.start("--queue", "default", *(["--no-fork"] if victim % 2 else []))
    _wait_registered(client, keys, n_workers)
    deadline = start + timeout
    while time.monotonic() < deadline:
        with client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(f"rq:job:{job_id}", "status", "bj_attempts")
            states = pipe.execute()
        if all(s[0] in (b"finished", b"failed") for s in states):
            break
        time.sleep(0.5)
    runs = Counter(int(line) for line in runs_file.read_text().split()) if runs_file.exists() else Counter()
    for i, (job_id, (status, _)) in enumerate(zip(ids, states, strict=True)):
        if status is None:
            report.missing.append(job_id)
        elif status == b"finished":
            report.finished += 1
            report.never_ran += runs[i] == 0
        elif status == b"failed":
            report.failed += 1
        else:
            report.stuck.append(f"{job_id}:{status.decode()}")
        # Jobs that fail on purpose run 1 + retry times by design; count the others run again.
        if not specs[i].kwargs["fail"] and runs[i] > 1:
            report.ran_twice += 1
            report.extra_runs += runs[i] - 1
    report.seconds = time.monotonic() - start
    return report


def _wait_registered(client, keys: Keys, n: int, timeout: float = 30.0) -> None:
    """Until `n` workers are alive (the dead ones' registrations linger until the sweep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = [n.decode() for n in client.smembers(keys.workers())]
        if sum(client.exists(keys.worker_alive(name)) for name in names) >= n:
            return
        time.sleep(0.05)
