"""Isolated mode with a reused pre-forked child (the default `worker` mode): real processes, real crashes.

A job that segfaults, calls os._exit, hangs past its timeout or grows past the memory limit fails
with the reason and takes only its own process down; the worker goes on with a fresh child, and
after a SIGKILL of the worker its child dies too and the sweep recovers the job.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for
from tests.worker_helpers import add_job, job, wait_busy, wait_status

SITE = "site1.test"


@pytest.fixture
def worker_config():
    return dict(worker_dead_after=2)


def burst(bench, *args: str) -> str:
    result = bench.run("worker", "--burst", "--quiet", *args, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout + result.stderr


def test_jobs_share_a_child_until_max_jobs_per_child(bench, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, tmp_path / "pids"
    ids = [add_job(client, bid, SITE, "testapp.worker_jobs.pid_and_mark", {"path": str(out)}) for _ in range(5)]
    burst(bench, "--max-jobs-per-child", "2")
    pids = out.read_text().split()
    assert len(pids) == 5
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] not in pids[:4] and pids[1] != pids[2]
    assert all(job(client, i)["status"] == "finished" for i in ids)


@pytest.mark.slow
def test_crashes_fail_only_their_job_and_the_worker_goes_on(bench, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, tmp_path / "pids"
    before = add_job(client, bid, SITE, "testapp.worker_jobs.pid_and_mark", {"path": str(out)})
    segv = add_job(client, bid, SITE, "testapp.worker_jobs.segfault")
    exited = add_job(client, bid, SITE, "testapp.worker_jobs.hard_exit", {"code": 3})
    hung = add_job(client, bid, SITE, "testapp.worker_jobs.sleep_then_mark",
                   {"path": str(tmp_path / "hung"), "seconds": 60}, timeout=1)
    leak = add_job(client, bid, SITE, "testapp.worker_jobs.grow", {"megabytes": 200, "hold": 10})
    after = add_job(client, bid, SITE, "testapp.worker_jobs.pid_and_mark", {"path": str(out)})
    burst(bench, "--max-child-memory", "120")
    assert job(client, segv)["status"] == "failed"
    assert job(client, segv)["bj_error"] == "job process died (killed by SIGSEGV)"
    assert job(client, exited)["bj_error"] == "job process died (exit code 3)"
    assert job(client, hung)["bj_error"] == "timeout after 1s"
    assert len((tmp_path / "hung").read_text().splitlines()) == 1  # started, never got to its end
    leaked = job(client, leak)
    assert leaked["status"] == "failed" and leaked["bj_error"].startswith("memory limit: the job process reached")
    assert "(limit 120 MiB)" in leaked["bj_error"]
    assert job(client, before)["status"] == job(client, after)["status"] == "finished"
    first, last = out.read_text().split()
    assert first != last  # the crashed children were replaced
    log = (bench.path / "logs" / "worker.log").read_text()
    assert "event=memory" in log and "killed by SIGSEGV" in log


def test_a_child_over_the_memory_limit_after_its_job_is_replaced_and_the_result_stands(bench, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, tmp_path / "pids"
    # grows to ~60 MiB for an instant and keeps it (CPython rarely gives big blocks back at once)
    grown = add_job(client, bid, SITE, "testapp.worker_jobs.grow", {"megabytes": 60, "hold": 0})
    ids = [add_job(client, bid, SITE, "testapp.worker_jobs.pid_and_mark", {"path": str(out)}) for _ in range(2)]
    burst(bench, "--max-child-memory", "1000")
    assert job(client, grown)["status"] == "finished"
    assert all(job(client, i)["status"] == "finished" for i in ids)


@pytest.mark.slow
def test_sigkill_of_the_worker_takes_its_child_down_and_the_job_is_recovered(bench, workers, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, tmp_path / "marks"
    job_id = add_job(client, bid, SITE, "testapp.worker_jobs.sleep_then_mark",
                     {"path": str(out), "seconds": 30}, retry=1, timeout=60)
    victim = workers.start()
    wait_busy(client, bid, job_id)
    wait_for(lambda: out.exists() and out.read_text().startswith("start"), 30, what="the job to start")
    child = int(out.read_text().split()[2])
    assert child != victim.pid
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    wait_for(lambda: not _alive(child), 10, what="the job's process to die with its worker")
    workers.start()  # its sweep recovers the job, and it runs it again
    data = wait_for(lambda: (j := job(client, job_id)).get("bj_attempts") == "2" and j, 30,
                    what="the job to be recovered and started again")
    assert data["bj_error"] == "worker died" and data["status"] == "started"
    wait_for(lambda: len(out.read_text().splitlines()) == 2, 30, what="the second run to start")
    assert len(out.read_text().splitlines()) == 2  # started twice, never ended in the killed child


def test_jobs_stop_reaches_a_job_in_the_pool(bench, workers, tmp_path) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    job_id = add_job(client, bid, SITE, "testapp.jobs.sleep", {"seconds": 60})
    nxt = add_job(client, bid, SITE, "testapp.jobs.noop")
    workers.start()
    wait_busy(client, bid, job_id)
    time.sleep(0.3)
    result = bench.run("jobs", "stop", job_id)
    assert result.returncode == 0, result.stderr
    assert wait_status(client, job_id, "stopped")["status"] == "stopped"
    assert wait_status(client, nxt, "finished")["status"] == "finished"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
