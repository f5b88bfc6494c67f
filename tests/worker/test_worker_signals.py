"""Warm and cold stops, `jobs stop`, and `--num-workers` supervision, with real worker processes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.workers import send_control
from tests.worker_helpers import add_job, job, wait_busy, wait_for, wait_status, workers_of

MODES = [pytest.param([], id="fork"), pytest.param(["--no-fork"], id="no-fork")]


@pytest.fixture
def worker_config():
    return dict(worker_dead_after=3)


def started(path: str) -> bool:
    return Path(path).exists() and "start" in Path(path).read_text()


@pytest.mark.parametrize("mode", MODES)
def test_sigterm_finishes_the_current_job_then_exits(bench, workers, tmp_path, mode) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "out")
    job_id = add_job(client, bid, "site1.test", "testapp.worker_jobs.sleep_then_mark",
                     {"path": out, "seconds": 2, "text": "done"})
    waiting = add_job(client, bid, "site1.test", "testapp.worker_jobs.mark", {"path": out, "text": "second"})
    proc = workers.start(*mode)
    wait_busy(client, bid, job_id)
    wait_for(lambda: started(out), what="job started")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert job(client, job_id)["status"] == "finished"
    assert job(client, waiting)["status"] == "queued"  # not taken: a warm stop ends after the current job
    assert workers_of(client, bid) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("retry", [0, 1])
def test_second_signal_interrupts_and_the_job_is_not_lost(bench, workers, tmp_path, mode, retry) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "out")
    job_id = add_job(client, bid, "site1.test", "testapp.worker_jobs.sleep_then_mark",
                     {"path": out, "seconds": 60}, retry=retry)
    proc = workers.start(*mode)
    wait_busy(client, bid, job_id)
    wait_for(lambda: started(out), what="job started")
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    data = job(client, job_id)
    if retry:
        assert data["status"] == "queued" and data["bj_error"] == "worker stopped"
        assert client.lrange(Keys(bid).queue("default"), 0, -1) == [job_id.encode()]
    else:
        assert data["status"] == "failed" and data["bj_error"] == "worker stopped"


@pytest.mark.parametrize("mode", MODES)
def test_jobs_stop_kills_the_running_job(bench, workers, tmp_path, mode) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "out")
    job_id = add_job(client, bid, "site1.test", "testapp.worker_jobs.sleep_then_mark",
                     {"path": out, "seconds": 60}, retry=3)
    workers.start(*mode)
    worker = wait_busy(client, bid, job_id)
    wait_for(lambda: started(out), what="job started")
    send_control(client, Keys(bid), worker["name"], {"cmd": "stop-job", "job_id": job_id})
    data = wait_status(client, job_id, "stopped")
    assert data["bj_error"] == "stopped by request"  # and no retry, although it had retries left
    assert client.zscore(Keys(bid).index("failed", "default", "site1.test"), job_id) is not None
    # the worker carries on with the next job
    nxt = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 1, "b": 1})
    wait_status(client, nxt, "finished")


def test_num_workers_replaces_a_killed_worker(bench, workers) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    supervisor = workers.start("--num-workers", "2", "--no-fork", quiet=False)
    first = wait_for(lambda: len(w := workers_of(client, bid)) == 2 and w, what="two workers")
    victim = first[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    pids = wait_for(lambda: (p := {w["pid"] for w in workers_of(client, bid) if w["state"] != "dead"})
                    and len(p) == 2 and victim not in p and p, timeout=60, what="a replacement worker")
    assert first[1]["pid"] in pids
    job_id = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 20, "b": 22})
    assert json.loads(wait_status(client, job_id, "finished")["bj_result"]) == 42
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(30) == 143
    output = workers.output(0)
    assert "killed by SIGKILL" in output and "restarting worker." in output
    wait_for(lambda: not [w for w in workers_of(client, bid) if w["state"] != "dead"], what="workers gone")
