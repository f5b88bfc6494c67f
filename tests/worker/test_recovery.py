"""Recovery of jobs whose worker died: the sweep (direct) and SIGKILLed worker processes (end to end)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from bench_jobs.jobs.dispatch import Dispatcher
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.workers import register_worker
from bench_jobs.logs import error_log as errorlog
from tests.worker_helpers import add_job, job, wait_busy, wait_for, wait_status, workers_of


@pytest.fixture
def worker_config():
    return dict(worker_dead_after=2, retry_backoff_base=0.05, retry_backoff_max=0.2)


def test_sweep_requeues_or_fails_the_jobs_of_a_dead_worker(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    dispatch, other = Dispatcher(client, keys, "w-dead"), Dispatcher(client, keys, "w-dead-2")
    for name in ("w-dead", "w-dead-2"):
        register_worker(client, keys, name, ["default"], alive_ttl=60)
    again = add_job(client, bid, "site1.test", "testapp.jobs.noop", retry=1)
    final = add_job(client, bid, "site1.test", "testapp.jobs.noop", retry=0)
    assert dispatch.claim(["default"]).id == again
    assert other.claim(["default"]).id == final
    assert not dispatch.sweep(force=True).job_ids  # alive: nothing to do
    # what a SIGKILL amounts to once the TTL ran out
    client.delete(keys.worker_alive("w-dead"), keys.worker_alive("w-dead-2"))
    result = dispatch.sweep(force=True)
    assert (result.requeued, result.failed) == (1, 1)
    assert job(client, again)["status"] == "queued" and job(client, again)["bj_error"] == "worker died"
    assert job(client, again)["retries_left"] == "0"  # its one retry is being used
    assert client.lrange(keys.queue("default"), 0, -1) == [again.encode()]
    assert job(client, final)["status"] == "failed" and job(client, final)["bj_error"] == "worker died"
    assert client.zcard(keys.started()) == 0 and client.zcard(keys.rq_wip("default")) == 0
    assert workers_of(client, bid) == []  # the dead worker's registration is gone too


def test_the_scheduler_alone_recovers_a_dead_workers_job(bench) -> None:
    """No worker at all is left: the scheduler process runs the sweep too."""
    import subprocess

    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    register_worker(client, keys, "w-gone", ["default"], alive_ttl=1)  # its alive key runs out in 1 s
    job_id = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    assert Dispatcher(client, keys, "w-gone").claim(["default"]).id == job_id
    scheduler = bench.popen("scheduler", "run", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        data = wait_status(client, job_id, "failed", timeout=60)
    finally:
        scheduler.terminate()
        scheduler.wait(20)
    assert data["bj_error"] == "worker died" and workers_of(client, bid) == []
    log = (bench.path / "logs" / "scheduler.log").read_text()
    assert any("event=died" in line and job_id in line for line in log.splitlines()), log
    assert [e["job_id"] for e in errorlog.list_errors(client, keys, "site1.test")] == [job_id]


def test_sweep_runs_once_per_interval_bench_wide(bench) -> None:
    client, keys = bench.client(), Keys(bench.bench.bench_id)
    first, second = Dispatcher(client, keys, "a"), Dispatcher(client, keys, "b")
    assert first.sweep(interval=30).swept
    assert not second.sweep(interval=30).swept


def test_finish_of_a_recovered_job_is_not_applied(bench) -> None:
    from bench_jobs.jobs.dispatch import Ending

    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    slow = Dispatcher(client, keys, "slow")
    job_id = add_job(client, bid, "site1.test", "testapp.jobs.noop", retry=2)
    claimed = slow.claim(["default"])
    slow.sweep(force=True)  # "slow" has no alive key: its job goes back to the queue
    applied, _ = slow.finish(claimed, Ending("finished", 0.1, result="null"))
    assert not applied and job(client, job_id)["status"] == "queued"


def test_deadline_recovers_a_job_of_a_live_but_stuck_worker(bench) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    stuck = Dispatcher(client, keys, "stuck")
    register_worker(client, keys, "stuck", ["default"], alive_ttl=60)
    job_id = add_job(client, bid, "site1.test", "testapp.jobs.noop", timeout=10)
    stuck.claim(["default"])
    assert not stuck.sweep(force=True, grace=5, now=time.time() + 12).job_ids
    assert stuck.sweep(force=True, grace=5, now=time.time() + 16).job_ids == [job_id]
    assert job(client, job_id)["bj_error"].startswith("worker died (no result")


@pytest.mark.parametrize("retry", [1, 0])
def test_kill_9_of_the_only_worker_of_a_queue(bench, workers, tmp_path, retry) -> None:
    """The worker of `default` is SIGKILLed mid-job; only a worker of another queue is left, and it
    recovers the job within the configured time (worker_dead_after=2 s here)."""
    client, bid = bench.client(), bench.bench.bench_id
    out = str(tmp_path / "out")
    job_id = add_job(client, bid, "site1.test", "testapp.worker_jobs.sleep_then_mark",
                     {"path": out, "seconds": 60}, retry=retry)
    victim = workers.start("--queue", "default")
    wait_busy(client, bid, job_id)
    # The one worker left serves another queue and is busy with a long job: its heartbeat thread
    # still sweeps for the whole bench.
    long_job = add_job(client, bid, "site1.test", "testapp.worker_jobs.sleep_then_mark",
                       {"path": out + ".long", "seconds": 120}, queue="long")
    workers.start("--queue", "long")
    wait_busy(client, bid, long_job)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    killed_at = time.monotonic()
    expected = "queued" if retry else "failed"
    data = wait_for(lambda: (d := job(client, job_id))["status"] == expected and d, timeout=60,
                    what=f"job {expected}")
    took = time.monotonic() - killed_at
    assert data["bj_error"] == "worker died"
    assert [(w["queues"], w["current_job"]) for w in workers_of(client, bid)] == [(["long"], long_job)]
    print(f"recovered in {took:.1f}s after SIGKILL (worker_dead_after=2)")
    # The operator is told: a `died` line in worker.log, and an Error Log entry when it failed for good.
    log = bench.path / "logs" / "worker.log"
    line = wait_for(lambda: [x for x in log.read_text().splitlines() if "event=died" in x and job_id in x],
                    what="the died line")[0]
    assert ("failed (no retries left)" if not retry else "re-queued") in line
    errors = [e for e in errorlog.list_errors(client, Keys(bid), "site1.test") if e.get("job_id") == job_id]
    assert [e["title"] for e in errors] == ([] if retry else ["testapp.worker_jobs.sleep_then_mark: worker died"])
    # the forked child died with its worker: it never finished the job
    time.sleep(0.5)
    assert "done" not in Path(out).read_text().splitlines()


@pytest.mark.parametrize("mode", [[], ["--no-fork"]], ids=["fork", "no-fork"])
def test_a_frozen_worker_kills_its_copy_of_a_job_given_away(bench, workers, tmp_path, mode) -> None:
    """A worker frozen (SIGSTOP, a VM pause) past its alive TTL loses its job to another worker; once
    resumed, its heartbeat sees that and kills its own copy: the job finishes once, not twice."""
    client, bid = bench.client(), bench.bench.bench_id
    out = tmp_path / "out"
    job_id = add_job(client, bid, "site1.test", "testapp.worker_jobs.steps_then_mark",
                     {"path": str(out), "steps": 40}, retry=1)
    frozen = workers.start("--queue", "default", *mode)
    wait_busy(client, bid, job_id)
    first_pid = int(wait_for(lambda: out.exists() and out.read_text().split(), what="first start")[1])
    pids = {frozen.pid, first_pid}
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        workers.start("--queue", "default", *mode)
        wait_for(lambda: len(out.read_text().splitlines()) == 2, timeout=60, what="the job restarted elsewhere")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    log = bench.path / "logs" / "worker.log"
    wait_for(lambda: f"job={job_id} event=lost" in log.read_text(), what="the resumed worker noticing")
    data = wait_status(client, job_id, "finished", timeout=60)
    lines = out.read_text().splitlines()
    second_pid = int(lines[1].split()[1])
    assert second_pid != first_pid and data["bj_attempts"] == "2"
    assert f"done {second_pid}" in lines and f"done {first_pid}" not in lines  # the frozen copy was killed
    assert "job process died" not in log.read_text() and "Error Log" not in log.read_text()


@pytest.mark.slow
def test_fault_injection_no_job_lost(bench, workers, tmp_path) -> None:
    """Issue 4: many jobs with retries, workers SIGKILLed at random moments and restarted; every job
    ends finished or failed — none missing, none stuck in started."""
    from tests.fault import run_fault_test

    report = run_fault_test(bench, workers, jobs=300, kills=6, rng=random.Random(4))
    print(report.summary())
    assert report.missing == [] and report.stuck == [] and report.never_ran == 0
    assert (report.finished, report.failed) == (270, 30)  # the 30 that always fail end failed
