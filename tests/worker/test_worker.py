"""Workers as real subprocesses against a real Redis: sites, queues, priority, timeouts, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from bench_jobs.jobs.dispatch import BUCKETS
from bench_jobs.jobs.keys import Keys
from tests.conftest import assert_clean_error
from tests.waiting import wait_for
from tests.worker_helpers import add_job, job, put_job

MODES = [pytest.param([], id="fork"), pytest.param(["--no-fork"], id="no-fork")]


def burst(bench, *args: str) -> None:
    result = bench.run("worker", "--burst", "--quiet", *args, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_jobs_of_two_sites_on_three_queues_run_with_their_site_config(bench, mode) -> None:
    bench.set_config("site1.test", marker="one")
    bench.set_config("site2.test", marker="two")
    client, bid = bench.client(), bench.bench.bench_id
    ids = {(site, queue): add_job(client, bid, site, "testapp.worker_jobs.site_info", queue=queue)
           for site in ("site1.test", "site2.test") for queue in ("short", "default", "long")}
    burst(bench, *mode)
    for (site, _queue), job_id in ids.items():
        data = job(client, job_id)
        assert data["status"] == "finished", data
        result = json.loads(data["bj_result"])
        assert result["site"] == site
        assert result["marker"] == {"site1.test": "one", "site2.test": "two"}[site]


def test_priority_order_holds(bench, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "order")
    for queue in ("long", "default", "short", "long", "default", "short"):
        add_job(client, bid, "site1.test", "testapp.worker_jobs.mark", {"path": out, "text": queue}, queue=queue)
    burst(bench, "--no-fork", "--queue", "short,default,long")
    assert Path(out).read_text().split() == ["short", "short", "default", "default", "long", "long"]


def test_round_robin_takes_turns(bench, tmp_path) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "order")
    for queue in ("short", "short", "short", "long", "long", "long"):
        add_job(client, bid, "site1.test", "testapp.worker_jobs.mark", {"path": out, "text": queue}, queue=queue)
    burst(bench, "--no-fork", "--queue", "short,long", "--strategy", "round_robin")
    assert Path(out).read_text().split() == ["short", "long"] * 3


def test_max_jobs_recycles_the_worker(bench, tmp_path) -> None:
    """--max-jobs N (not --burst): the worker exits 0 after N jobs, for its supervisor to start a fresh one."""
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "order")
    ids = [add_job(client, bid, "site1.test", "testapp.worker_jobs.mark", {"path": out, "text": str(n)})
           for n in range(3)]
    result = bench.run("worker", "--no-fork", "--max-jobs", "2", "--strategy", "random", timeout=60)
    assert result.returncode == 0, result.stderr
    assert [job(client, i)["status"] for i in ids] == ["finished", "finished", "queued"]
    assert "event=worker-stop 2 job(s) run" in result.stdout


@pytest.mark.parametrize("mode", MODES)
def test_timeout_kills_the_job(bench, tmp_path, mode) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, str(tmp_path / "out")
    slow = add_job(client, bid, "site1.test", "testapp.worker_jobs.sleep_then_mark",
                   {"path": out, "seconds": 30, "text": "slow"}, timeout=1)
    spin = add_job(client, bid, "site1.test", "testapp.worker_jobs.spin", {"seconds": 30}, timeout=1)
    burst(bench, *mode)
    for job_id in (slow, spin):
        data = job(client, job_id)
        assert data["status"] == "failed"
        assert data["bj_error"] == "timeout after 1s"
    assert "slow\n" not in Path(out).read_text()  # started, never reached its end
    log = (bench.path / "logs" / "worker.log").read_text()
    assert f"job={slow} " in log and "event=timeout" in log


def test_queue_timeout_from_workers_config(bench, tmp_path) -> None:
    bench.set_config(workers={"tiny": {"timeout": 1}})
    client, bid = bench.client(), bench.bench.bench_id
    # enqueue without --timeout writes the queue's; a job written by hand without one gets it from the worker
    enqueued = bench.cli("enqueue", "testapp.worker_jobs.spin", "--kwargs", '{"seconds": 30}', "--queue", "tiny")
    assert enqueued.exit_code == 0, enqueued.output
    by_hand = put_job(client, bid, "site1.test", "testapp.worker_jobs.spin", {"seconds": 30}, queue="tiny")
    client.hdel(f"rq:job:{by_hand}", "timeout")
    burst(bench, "--no-fork", "--queue", "tiny")
    for job_id in (enqueued.stdout.strip(), by_hand):
        assert job(client, job_id)["bj_error"] == "timeout after 1s"


def test_a_process_the_job_leaves_behind_does_not_hold_the_worker(bench) -> None:
    """Forking mode: the job's child ends, but a process it started keeps the result pipe open."""
    client, bid = bench.client(), bench.bench.bench_id
    first = add_job(client, bid, "site1.test", "testapp.worker_jobs.leave_background_process", {"seconds": 120})
    second = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 1, "b": 2})
    # Not burst(): captured output would wait for the leftover process, which holds the worker's stdout too.
    worker = bench.popen("worker", "--burst", "--quiet", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert worker.wait(60) == 0
    leftover = int(job(client, first)["bj_result"])
    try:
        assert job(client, first)["status"] == "finished" and job(client, second)["status"] == "finished"
        os.kill(leftover, 0)  # still running: the worker went on without waiting for it
    finally:
        os.kill(leftover, signal.SIGKILL)


@pytest.mark.parametrize("mode", MODES)
def test_failing_job_is_failed_and_in_the_error_log(bench, mode) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    job_id = add_job(client, bid, "site2.test", "testapp.jobs.fail", {"message": "kaput"})
    burst(bench, *mode)
    data = job(client, job_id)
    assert data["status"] == "failed" and data["bj_error"] == "ValueError: kaput"
    entries = client.xrange(Keys(bid).error_log("site2.test"))
    assert any(e[1][b"job_id"].decode() == job_id and b"ValueError: kaput" in e[1][b"traceback"] for e in entries)
    errors = (bench.path / "logs" / "worker.error.log").read_text()
    assert f"job={job_id}" in errors and "Traceback (most recent call last)" in errors
    assert client.zscore(Keys(bid).index("failed", "default", "site2.test"), job_id) is not None


HAND_WRITTEN = [
    ("os.system", lambda marker: {"command": f"touch {marker}"}, "--no-fork"),
    ("os.system", lambda marker: {"command": f"touch {marker}"}, "--quiet"),  # forking mode
    ("subprocess.run", lambda marker: {"args": ["touch", str(marker)]}, "--no-fork"),
    ("testapp.worker_jobs.os.system", lambda marker: {"command": f"touch {marker}"}, "--no-fork"),
    ("builtins.exec", lambda marker: {"source": f"open({str(marker)!r}, 'w')"}, "--no-fork"),
    # bench_jobs' internals are not jobs: this one would write any file it is given
    ("bench_jobs.bench.config.write_atomic", lambda marker: {"path": str(marker), "text": "x"}, "--no-fork"),
    ("testapp.worker_jobs.mark.__globals__", lambda marker: {"path": str(marker)}, "--no-fork"),
]


@pytest.mark.parametrize(("method", "kwargs", "mode"), HAND_WRITTEN,
                         ids=[f"{m} {mode.strip('-')}" for m, _, mode in HAND_WRITTEN])
def test_hand_written_job_outside_the_apps_runs_nothing(bench, tmp_path, method, kwargs, mode) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    marker = tmp_path / "pwned"
    job_id = put_job(client, bid, "site1.test", method, kwargs(marker))
    burst(bench, mode)
    data = job(client, job_id)
    assert data["status"] == "failed"
    assert data["bj_error"].startswith(("MethodNotAllowed", "MethodNotFound"))
    assert not marker.exists()


@pytest.mark.parametrize("mode", MODES)
def test_hand_written_job_with_unreadable_fields_fails_and_the_worker_goes_on(bench, tmp_path, mode) -> None:
    client, bid, out = bench.client(), bench.bench.bench_id, tmp_path / "out"
    bad = {"bj_kwargs": "not json", "timeout": "soon", "bj_retry": "twice"}
    ids = {}
    for field, value in [*bad.items(), ("bj_kwargs", "[1, 2]"), ("timeout", "-5")]:
        ids[field, value] = put_job(client, bid, "site1.test", "testapp.worker_jobs.mark", {"path": str(out)})
        client.hset(f"rq:job:{ids[field, value]}", field, value)
    good = put_job(client, bid, "site1.test", "testapp.worker_jobs.mark", {"path": str(out), "text": "good"})
    burst(bench, *mode)  # exit 0, no traceback: the worker did not crash on the first bad job
    for (field, _value), job_id in ids.items():
        data = job(client, job_id)
        assert data["status"] == "failed" and data["bj_error"].startswith(f"InvalidJob: {field}"), data
    assert job(client, good)["status"] == "finished"
    assert out.read_text() == "good\n"  # none of the bad ones ran


def test_finished_job_expires_and_counts_in_metrics(bench) -> None:
    bench.set_config(rq_results_ttl=120)
    client, bid = bench.client(), bench.bench.bench_id
    job_id = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 2, "b": 3}, queue="short")
    burst(bench, "--no-fork")
    assert json.loads(job(client, job_id)["bj_result"]) == 5
    assert 0 < client.ttl(f"rq:job:{job_id}") <= 120
    hist = {k.decode(): v.decode() for k, v in client.hgetall(Keys(bid).durations()).items()}
    assert hist["short|testapp.jobs.add|count"] == "1"
    buckets = {k.rsplit("|", 1)[1]: float(v) for k, v in hist.items() if k.startswith("short|testapp.jobs.add|")}
    assert sum(n for le, n in buckets.items() if le not in ("sum", "count")) == 1
    assert set(buckets) <= {*map(str, BUCKETS), "+Inf", "sum", "count"}


def test_unknown_queue_is_a_clean_error(bench) -> None:
    assert_clean_error(bench.cli("worker", "--queue", "nope", "--burst"), "unknown queue 'nope'")


def test_redis_down_is_a_clean_error(bench, redis_factory) -> None:
    server = redis_factory()
    bench.set_config(redis_queue=server.url)
    server.kill()
    assert_clean_error(bench.cli("worker", "--burst"), "not reachable")


def test_a_long_running_worker_waits_for_redis(bench, redis_factory) -> None:
    """A process manager may start a worker before Redis (or restart Redis beside it): the worker
    says so on stderr and serves once Redis is up, instead of exiting into a failed spawn."""
    server = redis_factory()
    bench.set_config(redis_queue=server.url)
    server.kill()
    proc = bench.popen("worker", "--queue", "default", "--quiet", stderr=subprocess.PIPE, text=True)
    try:
        assert "the worker waits for it" in proc.stderr.readline()
        server.start()
        job_id = add_job(server.client(), bench.bench.bench_id, bench.site, "testapp.jobs.noop")
        wait_for(lambda: job(server.client(), job_id).get("status") == "finished", timeout=30,
                 what="the job to run once Redis is up")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert "Traceback" not in proc.stderr.read()


def test_workers_lists_only_this_bench(bench, workers, tmp_path) -> None:
    from tests.conftest import make_bench
    from tests.worker_helpers import wait_for

    other = make_bench(tmp_path / "other", bench.redis)
    proc = workers.start("--queue", "short,default")
    client = bench.client()
    wait_for(lambda: bench.cli("workers", "--format", "json").stdout.count('"name"') == 1, what="worker listed")
    doc = json.loads(bench.cli("workers", "--format", "json").stdout)
    row = doc["workers"][0]
    assert row["pid"] == proc.pid and row["queues"] == ["short", "default"] and row["state"] in ("idle", "busy")
    assert row["utilisation"] is None or 0 <= row["utilisation"] <= 1
    table = bench.cli("workers", env={"COLUMNS": "250"})
    assert str(proc.pid) in table.stdout and "short, default" in table.stdout and "busy" in table.stdout
    from bench_jobs.jobs.workers import list_workers

    assert list_workers(client, Keys(other.bench_id)) == []
