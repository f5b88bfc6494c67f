"""The reliability soak of issue 11 (not in CI): mixed jobs under random worker SIGKILLs, Redis
kill -9 + restarts, CLIENT PAUSEs, scheduler SIGKILLs and rq-style external deletes (Job.delete()),
then a table: enqueued / ran once / ran twice / failed / lost / stuck.

    .venv/bin/python benchmarks/soak.py --minutes 5
    .venv/bin/python benchmarks/soak.py --minutes 30 --seed 3 --dead-after 15

Jobs are testapp.worker_jobs.sleep_then_mark: 80 % take 0.05-0.3 s, 20 % 1-5 s, all with retry=3
(three workers drain about 4 a second; the default rate of 1.5 a second keeps the backlog short);
each completed run writes its number to one file, so runs are counted by the jobs themselves.
Finished jobs are kept for a day (rq_results_ttl), so every acknowledged job can be accounted for.
Redis keeps an AOF with fsync always (a restart loses nothing acknowledged); the soak measures what
bench-jobs does with outages, not what an fsync policy loses.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from _common import ENV, RedisProcess, make_bench, scratch_dir

from tests.conftest import BenchFixture

TERMINAL = {b"finished", b"failed", b"stopped", b"canceled"}


class Soak:
    def __init__(self, bench: BenchFixture, tmp: Path, rng: random.Random, workers: int, schedulers: int) -> None:
        self.bench, self.tmp, self.rng = bench, tmp, rng
        self.runs_file = tmp / "runs"
        self.ids: dict[int, str] = {}          # job number -> id, acknowledged enqueues only
        self.deleted: set[int] = set()         # removed through rq's API on purpose
        self.events: Counter[str] = Counter()
        self.stop = threading.Event()
        self.workers: list[subprocess.Popen] = [self._worker(i) for i in range(workers)]
        self.schedulers: list[subprocess.Popen] = [self._scheduler() for _ in range(schedulers)]

    # -- processes -------------------------------------------------------------------------------------
    def _spawn(self, *args: str) -> subprocess.Popen:
        log = open(self.tmp / "procs.log", "ab")  # noqa: SIM115 - lives with the process
        return subprocess.Popen([sys.executable, "-m", "bench_jobs", "--bench", str(self.bench.path), *args],
                                stdout=log, stderr=subprocess.STDOUT, env=ENV)

    def _worker(self, i: int) -> subprocess.Popen:
        return self._spawn("worker", "--quiet", *(["--no-fork"] if i % 3 == 2 else []))

    def _scheduler(self) -> subprocess.Popen:
        return self._spawn("schedule", "--quiet")

    def client(self):
        return self.bench.redis.client(socket_timeout=5, socket_connect_timeout=1)

    # -- the producer ----------------------------------------------------------------------------------
    def produce(self, rate: float) -> None:
        from bench_jobs.jobs.keys import Keys
        from bench_jobs.jobs.store import enqueue_job

        keys, n = Keys(self.bench.bench.bench_id), 0
        while not self.stop.is_set():
            n += 1
            seconds = self.rng.uniform(1, 5) if self.rng.random() < 0.2 else self.rng.uniform(0.05, 0.3)
            try:
                result = enqueue_job(self.client(), keys, job_id=None, site="site1.test", queue="default",
                                     method="testapp.worker_jobs.sleep_then_mark", timeout=60, retry=3,
                                     kwargs={"path": str(self.runs_file), "seconds": seconds, "text": str(n)})
                self.ids[n] = result.id
            except Exception:  # Redis away: this number was not acknowledged and is not counted
                self.events["enqueue refused (Redis away)"] += 1
                time.sleep(0.5)
            self.stop.wait(1 / rate)

    # -- chaos -----------------------------------------------------------------------------------------
    def chaos(self, every: float) -> None:
        actions = [self.kill_worker, self.kill_worker, self.restart_redis, self.pause_redis, self.kill_scheduler,
                   self.external_delete, self.external_delete]
        while not self.stop.wait(self.rng.uniform(every / 2, every * 1.5)):
            action = self.rng.choice(actions)
            try:
                action()
            except Exception as exc:  # a chaos step that could not run (Redis away) is only skipped
                self.events[f"chaos skipped ({type(exc).__name__})"] += 1

    def kill_worker(self) -> None:
        i = self.rng.randrange(len(self.workers))
        os.kill(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait(10)
        self.workers[i] = self._worker(i)
        self.events["worker SIGKILL"] += 1

    def restart_redis(self) -> None:
        down = self.rng.uniform(1, 20)
        self.bench.redis.kill()
        time.sleep(down)
        self.bench.redis.start()
        self.events["Redis kill -9 + restart"] += 1
        self.events["Redis down, seconds (total)"] += round(down)

    def pause_redis(self) -> None:
        seconds = self.rng.uniform(2, 20)
        self.client().execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")
        time.sleep(seconds)
        self.events["CLIENT PAUSE"] += 1
        self.events["paused, seconds (total)"] += round(seconds)

    def kill_scheduler(self) -> None:
        i = self.rng.randrange(len(self.schedulers))
        os.kill(self.schedulers[i].pid, signal.SIGKILL)
        self.schedulers[i].wait(10)
        self.schedulers[i] = self._scheduler()
        self.events["scheduler SIGKILL"] += 1

    def external_delete(self) -> None:
        """rq-dashboard style: a few just-enqueued jobs deleted through rq's own API (the workers may
        win the race for some of them; those run and are counted as usual)."""
        from rq.job import Job

        from bench_jobs.jobs.keys import Keys
        from bench_jobs.jobs.store import enqueue_job

        client, keys = self.client(), Keys(self.bench.bench.bench_id)
        for _ in range(3):
            n = -(len(self.deleted) + self.events["rq Job.delete() tried"] + 1)  # negative: apart from the producer's
            job_id = enqueue_job(client, keys, job_id=None, site="site1.test", queue="default", timeout=60, retry=3,
                                 method="testapp.worker_jobs.sleep_then_mark",
                                 kwargs={"path": str(self.runs_file), "seconds": 0.05, "text": str(n)}).id
            self.ids[n] = job_id
            self.events["rq Job.delete() tried"] += 1
            if client.hget(f"rq:job:{job_id}", "status") == b"queued":
                Job.fetch(job_id, connection=client).delete()
                self.deleted.add(n)
                self.events["rq Job.delete() of a queued job"] += 1

    def index_drift(self) -> int:
        """Queued jobs the per-site indexes still count once everything has drained (should be 0)."""
        from bench_jobs.jobs.keys import Keys

        keys, client = Keys(self.bench.bench.bench_id), self.client()
        return sum(client.llen(keys.index("queued", q, "site1.test")) for q in ("short", "default", "long"))

    # -- the end ---------------------------------------------------------------------------------------
    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s in TERMINAL or s is None for s in self.statuses().values()):
                return
            time.sleep(2)

    def statuses(self) -> dict[int, bytes | None]:
        client, numbers = self.client(), list(self.ids)
        with client.pipeline(transaction=False) as pipe:
            for n in numbers:
                pipe.hget(f"rq:job:{self.ids[n]}", "status")
            return dict(zip(numbers, pipe.execute(), strict=True))

    def shutdown(self) -> None:
        for proc in self.workers + self.schedulers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers + self.schedulers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def report(self) -> dict[str, int]:
        lines = self.runs_file.read_text().split("\n") if self.runs_file.exists() else []
        completed = Counter(int(line) for line in lines if line.lstrip("-").isdigit())
        table: Counter[str] = Counter()
        stuck = []
        for n, status in self.statuses().items():
            if n in self.deleted:
                table["deleted through rq (excluded)"] += 1
                continue
            table["enqueued (acknowledged)"] += 1
            runs = completed[n]
            if status is None:
                table["lost (hash gone)"] += 1
            elif status not in TERMINAL:
                table["stuck"] += 1
                stuck.append(f"{self.ids[n]}:{status.decode()}")
            elif status == b"finished" and runs == 0:
                table["lost (finished, never ran)"] += 1
            elif status == b"failed":
                table["failed (dead letter, reason kept)"] += 1
            if runs == 1:
                table["ran once"] += 1
            elif runs > 1:
                table["ran twice or more"] += 1
                table["extra runs"] += runs - 1
        for key in ("lost (hash gone)", "lost (finished, never ran)", "stuck", "ran twice or more"):
            table.setdefault(key, 0)
        if stuck:
            print("stuck:", ", ".join(stuck[:10]))
        return dict(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=1.5, help="jobs enqueued per second")
    parser.add_argument("--every", type=float, default=8.0, help="mean seconds between chaos steps")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--dead-after", type=float, default=15.0, help="worker_dead_after (seconds)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with scratch_dir("soak-") as tmp:
        server = RedisProcess(tmp / "redis", None, "--appendonly", "yes", "--appendfsync", "always").start()
        bench = BenchFixture(make_bench(tmp / "bench", server), server)
        bench.set_config(worker_dead_after=args.dead_after, retry_backoff_base=0.2, retry_backoff_max=2,
                         rq_results_ttl=86400)
        soak = Soak(bench, tmp, random.Random(args.seed), args.workers, args.schedulers)
        threads = [threading.Thread(target=soak.produce, args=(args.rate,), daemon=True),
                   threading.Thread(target=soak.chaos, args=(args.every,), daemon=True)]
        try:
            for thread in threads:
                thread.start()
            soak.stop.wait(args.minutes * 60)
            soak.stop.set()
            for thread in threads:
                thread.join(60)
            if bench.redis.proc is None:
                bench.redis.start()
            soak.drain(timeout=600)
            time.sleep(args.dead_after)  # a sweep or two after the drain: stale index entries are gone by then
            table = soak.report()
            table["queued still counted by the indexes"] = soak.index_drift()
        finally:
            soak.shutdown()
            server.kill()
    print(f"\nsoak: {args.minutes:g} min of chaos, {args.workers} workers, {args.schedulers} schedulers, "
          f"worker_dead_after={args.dead_after:g}s, seed {args.seed}, {time.monotonic() - started:.0f}s in all")
    print("\n| fault injected | count |\n|---|---:|")
    for name, count in sorted(soak.events.items()):
        print(f"| {name} | {count} |")
    print("\n| jobs | count |\n|---|---:|")
    for name, count in table.items():
        print(f"| {name} | {count} |")
    bad = (table["lost (hash gone)"] + table["lost (finished, never ran)"] + table["stuck"]
           + table["queued still counted by the indexes"])
    print("\nOK: nothing lost, nothing stuck" if not bad else f"\nFAILED: {bad} lost or stuck")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
