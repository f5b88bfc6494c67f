"""A Redis outage or pause is not a worker death: jobs running on live workers through a Redis
`kill -9` + restart, or a `CLIENT PAUSE`, each end once with their real result.

worker_dead_after is 3 s here, so every outage below outlasts the workers' alive keys (the case
that used to fail or re-run jobs). Longer outages and jobs (60 s / 40 s) are in benchmarks/outage.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench_jobs.jobs.dispatch import Dispatcher
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.workers import register_worker
from tests.conftest import BenchFixture, make_bench
from tests.worker_helpers import WorkerProcs, add_job, job, wait_busy, wait_for, wait_status

JOB_SECONDS = 5
JOBS = 3


@pytest.fixture
def own_bench(tmp_path: Path, redis_factory) -> BenchFixture:
    """A bench on a Redis of its own, persistent (AOF, fsync always) so a kill -9 loses nothing."""
    server = redis_factory("--appendonly", "yes", "--appendfsync", "always")
    fixture = BenchFixture(make_bench(tmp_path / "bench", server), server)
    fixture.set_config(worker_dead_after=3)
    return fixture


def run_through_outage(bench: BenchFixture, tmp_path: Path, outage, job_seconds: float = JOB_SECONDS) -> None:
    """JOBS jobs of `job_seconds` running on JOBS live workers (fork and --no-fork) when `outage()`
    happens; each must end finished, once, and no worker may log a death or a lost job.
    benchmarks/outage.py runs it with longer outages and jobs."""
    client, bid = bench.client(), bench.bench.bench_id
    workers = WorkerProcs(bench, tmp_path)
    try:
        marks = [tmp_path / f"job-{i}" for i in range(JOBS)]
        ids = [add_job(client, bid, "site1.test", "testapp.worker_jobs.sleep_then_mark",
                       {"path": str(mark), "seconds": job_seconds}) for mark in marks]
        for i in range(JOBS):
            workers.start("--queue", "default", *(["--no-fork"] if i % 2 else []))
        for job_id in ids:
            wait_busy(client, bid, job_id)
        outage()
        client = bench.client()
        for job_id in ids:
            data = wait_status(client, job_id, "finished", "failed", "queued", timeout=90 + job_seconds)
            assert data["status"] == "finished", data
            assert data["bj_attempts"] == "1", data
        for mark in marks:  # ran once, to its end: one start and one "done"
            assert mark.read_text().split("\n").count("done") == 1, mark.read_text()
            assert sum(line.startswith("start") for line in mark.read_text().splitlines()) == 1
        # the workers lived through it, and nothing was swept
        assert all(proc.poll() is None for proc in workers.procs), [workers.output(i) for i in range(JOBS)]
        log = (bench.path / "logs" / "worker.log").read_text()
        assert "event=died" not in log and "event=lost" not in log, log
    finally:
        workers.stop_all()


@pytest.mark.parametrize("seconds", [5, pytest.param(20, marks=pytest.mark.slow)])
def test_redis_kill_9_and_restart_is_not_a_death(own_bench, tmp_path, seconds) -> None:
    def outage() -> None:
        time.sleep(1)
        own_bench.redis.kill()
        time.sleep(seconds)
        own_bench.redis.start()

    run_through_outage(own_bench, tmp_path, outage)


@pytest.mark.parametrize("seconds", [5, pytest.param(20, marks=pytest.mark.slow)])
def test_client_pause_is_not_a_death(own_bench, tmp_path, seconds) -> None:
    def outage() -> None:
        time.sleep(1)
        own_bench.client().execute_command("CLIENT", "PAUSE", seconds * 1000, "ALL")
        time.sleep(seconds)

    run_through_outage(own_bench, tmp_path, outage)


def test_sweep_holds_its_verdicts_after_an_outage_then_judges(own_bench) -> None:
    """Direct: no contact for longer than half of dead_after = an outage; the dead are judged only
    one dead_after later, so a live worker has time to beat again."""
    client, keys = own_bench.client(), Keys(own_bench.bench.bench_id)
    register_worker(client, keys, "w", ["default"], alive_ttl=1)
    job_id = add_job(client, own_bench.bench.bench_id, "site1.test", "testapp.jobs.noop")
    sweeper = Dispatcher(client, keys, "sweeper")
    assert Dispatcher(client, keys, "w").claim(["default"]).id == job_id
    time.sleep(1.2)  # the alive key and the contact (0.5 s) ran out: as after an outage
    first = sweeper.sweep(interval=0.001, dead_after=1)
    assert first.held and not first.job_ids and job(client, job_id)["status"] == "started"
    result = wait_for(lambda: (r := sweeper.sweep(interval=0.001, dead_after=1)).job_ids and r, timeout=10,
                      what="the sweep to judge after the hold")
    assert result.job_ids == [job_id] and job(client, job_id)["bj_error"] == "worker died"
