"""The runner: backoff (pure), settle (pure), run_here, and retries / callbacks / unit of work in a worker."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest

from bench_jobs.errors import MethodNotAllowed
from bench_jobs.jobs.enqueue import run_here
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.model import Job
from bench_jobs.worker.runner import Outcome, RetryPolicy, retry_delay, settle
from tests.worker_helpers import WorkerProcs, add_job, wait_for, wait_status


def claimed(attempts: int = 1, retry: int = 0) -> Job:
    return Job("j1", status="started", queue="default", site="site1.test", method="testapp.jobs.noop", kwargs={},
               timeout=300, attempts=attempts, retry=retry)


# -- pure functions ---------------------------------------------------------------------------
def test_retry_delay_grows_exponentially_within_jitter_and_cap() -> None:
    assert [retry_delay(n, base=5, cap=3600, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert [retry_delay(n, base=5, cap=3600, rand=lambda: 0.0) for n in (1, 2, 3)] == [2.5, 5, 10]
    assert retry_delay(30, base=5, cap=3600, rand=lambda: 1.0) == 3600
    assert retry_delay(30, base=5, cap=3600, rand=lambda: 0.0) == 1800


def test_settle_decides_retry_then_dead_letter() -> None:
    policy = RetryPolicy(base=1, cap=10, failure_ttl=99, failed_limit=7)
    boom = Outcome("error", 0.1, error="ValueError: boom", traceback="Traceback...")
    first = settle(claimed(attempts=1, retry=2), boom, policy, now=1000.0, rand=lambda: 1.0)
    assert (first.status, first.run_at, first.error) == ("scheduled", 1001.0, "ValueError: boom")
    assert zlib.decompress(first.exc_info) == b"Traceback..."
    assert settle(claimed(2, 2), boom, policy, 1000.0, rand=lambda: 1.0).run_at == 1002.0
    last = settle(claimed(3, 2), boom, policy, 1000.0)
    assert (last.status, last.ttl, last.failed_limit) == ("failed", 99, 7)


def test_settle_never_retries_a_refused_method_or_a_stop() -> None:
    policy = RetryPolicy()
    assert settle(claimed(1, 5), Outcome("not-allowed", error="MethodNotAllowed"), policy, 0).status == "failed"
    assert settle(claimed(1, 5), Outcome("stopped", error="stopped by request"), policy, 0).status == "stopped"
    assert settle(claimed(1, 5), Outcome("worker-stopped", error="worker stopped"), policy, 0).status == "queued"
    assert settle(claimed(1, 0), Outcome("worker-stopped", error="worker stopped"), policy, 0).status == "failed"
    assert settle(claimed(1, 0), Outcome("finished", result="1"), RetryPolicy(results_ttl=5), 0).ttl == 5


def test_run_here_uses_the_allow_list_and_the_site(bench) -> None:
    bench.set_config("site2.test", marker="two")
    assert run_here(bench.bench, "site2.test", "testapp.worker_jobs.site_info", {})["marker"] == "two"
    with pytest.raises(MethodNotAllowed):
        run_here(bench.bench, "site1.test", "os.getcwd", {})
    with pytest.raises(MethodNotAllowed):
        run_here(bench.bench, "site1.test", "testapp.worker_jobs.os.getcwd", {})
    with pytest.raises(ValueError, match="nope"):
        run_here(bench.bench, "site1.test", "testapp.jobs.fail", {"message": "nope"})


# -- in a worker ------------------------------------------------------------------------------
@pytest.fixture
def worker(bench, tmp_path):
    bench.set_config(retry_backoff_base=0.05, retry_backoff_max=0.2)
    procs = WorkerProcs(bench, tmp_path)
    yield procs
    procs.stop_all()


@pytest.mark.parametrize("mode", [[], ["--no-fork"]], ids=["fork", "no-fork"])
def test_retries_with_backoff_end_finished(bench, worker, tmp_path, mode) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "runs")
    job_id = add_job(client, bid, "site1.test", "testapp.worker_jobs.flaky", {"path": out, "failures": 2}, retry=3)
    worker.start(*mode)
    data = wait_status(client, job_id, "finished")
    assert json.loads(data["bj_result"]) == 3 and data["bj_attempts"] == "3"
    log = (bench.path / "logs" / "worker.log").read_text()
    assert re.search(r"event=retry duration=\S+ attempt 1/4 failed: RuntimeError: flaky failure 1; retry in", log)
    assert re.search(r"event=retry duration=\S+ attempt 2/4 failed", log)
    assert re.search(r"event=finished duration=\S+ attempt 3/4", log)


def test_retries_spent_end_failed_with_traceback(bench, worker, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "runs")
    job_id = add_job(client, bid, "site1.test", "testapp.worker_jobs.flaky", {"path": out, "failures": 9}, retry=2)
    worker.start("--no-fork")
    data = wait_status(client, job_id, "failed")
    assert data["bj_attempts"] == "3" and data["bj_error"] == "RuntimeError: flaky failure 3"
    exc = zlib.decompress(client.hget(f"rq:job:{job_id}", "exc_info")).decode()
    assert "Traceback (most recent call last)" in exc and "flaky failure 3" in exc
    assert "bench_jobs" not in exc.split("\n")[1]  # starts at the job's own frame
    assert data["retries_left"] == "0"
    assert Path(out).read_text().splitlines() == ["run 1", "run 2", "run 3"]
    assert client.zscore(Keys(bid).index("failed", "default", "site1.test"), job_id) is not None


def test_callbacks_run_with_the_site_context(bench, worker, tmp_path) -> None:
    log = tmp_path / "callbacks"
    bench.set_config("site1.test", callback_log=str(log))
    client, bid = bench.client(), bench.bench.bench_id
    ok = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 1, "b": 2},
                 on_success="testapp.worker_jobs.record_callback", on_failure="testapp.worker_jobs.record_callback")
    bad = add_job(client, bid, "site1.test", "testapp.jobs.fail", {"message": "cb"},
                  on_failure="testapp.worker_jobs.record_callback")
    worker.start("--no-fork")
    wait_status(client, bad, "failed")
    wait_status(client, ok, "finished")
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) == 2, what="both callbacks")
    assert sorted(log.read_text().splitlines()) == sorted([f"ok {ok} 3", f"failed {bad} ValueError: cb"])


def test_after_commit_jobs_of_a_failed_job_are_never_sent(bench, worker, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, tmp_path / "out"
    failing = add_job(client, bid, "site1.test", "testapp.worker_jobs.enqueue_then_fail", {"path": str(out)})
    passing = add_job(client, bid, "site1.test", "testapp.worker_jobs.enqueue_then_succeed", {"path": str(out)})
    worker.start("--no-fork")
    wait_status(client, failing, "failed")
    wait_status(client, passing, "finished")
    wait_for(lambda: out.exists() and out.read_text() == "after-commit\n", what="the committed job's mark")
    wait_for(lambda: client.llen(Keys(bid).queue("default")) == 0, what="queue drained")
    assert out.read_text() == "after-commit\n"
