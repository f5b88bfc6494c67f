"""The inspection commands against jobs written by the real enqueue and run by real workers."""

from __future__ import annotations

import json
import subprocess

from bench_jobs.jobs.keys import job_key
from tests.conftest import BenchFixture
from tests.waiting import wait_for

SITES = ("site1.test", "site2.test")
QUEUE_TIMEOUTS = {"short": 300, "default": 300, "long": 1500}


def enqueue(bench: BenchFixture, method: str, *args: str) -> str:
    result = bench.cli("enqueue", method, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_enqueue_run_inspect_retry(bench: BenchFixture) -> None:
    ok = enqueue(bench, "testapp.jobs.add", "--kwargs", '{"a": 2, "b": 3}')
    bad = enqueue(bench, "testapp.jobs.fail", "--kwargs", '{"message": "kaputt"}', "--queue", "short")
    doc = json.loads(bench.cli("show-pending-jobs", "--format", "json").stdout)
    pending = {q["queue"]: q["pending"] for q in doc["queues"]}
    assert pending == {"short": 1, "default": 1, "long": 0}
    assert doc["queues"][1]["jobs"][0]["kwargs"] == {"a": 2, "b": 3}

    worker = bench.run("--site", bench.site, "worker", "--burst", "--no-fork")
    assert worker.returncode == 0, worker.stderr

    doc = json.loads(bench.cli("show-pending-jobs", "--format", "json").stdout)
    assert [(q["pending"], q["failed"]) for q in doc["queues"]] == [(0, 1), (0, 0), (0, 0)]
    listed = json.loads(bench.cli("jobs", "list", "--format", "json").stdout)["jobs"]
    assert {(j["id"], j["status"]) for j in listed} == {(ok, "finished"), (bad, "failed")}
    shown = json.loads(bench.cli("jobs", "show", bad, "--format", "json").stdout)
    assert "ValueError: kaputt" in shown["traceback"] and shown["attempts"] == 1
    assert json.loads(bench.cli("jobs", "show", ok, "--format", "json").stdout)["result"] == 5

    errors = json.loads(bench.cli("error-log", "list", "--format", "json").stdout)["errors"]
    assert errors[0]["job_id"] == bad and "kaputt" in errors[0]["traceback"]

    lines = bench.cli("logs", "--worker", "--job", bad).stdout
    assert "event=failed" in lines and lines.count("event=failed") == 1  # once, with its traceback
    assert "ValueError: kaputt" in lines

    assert "Re-queued 1 job(s)." in bench.cli("jobs", "retry", bad).stdout
    doc = json.loads(bench.cli("show-pending-jobs", "--queue", "short", "--format", "json").stdout)
    assert (doc["queues"][0]["pending"], doc["queues"][0]["failed"]) == (1, 0)


def test_stop_a_running_job(bench: BenchFixture) -> None:
    job_id = enqueue(bench, "testapp.jobs.sleep", "--kwargs", '{"seconds": 30}')
    client = bench.client()
    worker = bench.popen("worker", "--queue", "default", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: client.hget(job_key(job_id), "status") == b"started")
        result = bench.cli("jobs", "stop", job_id)
        assert result.exit_code == 0, result.output
        wait_for(lambda: client.hget(job_key(job_id), "status") == b"stopped", timeout=20)
        failed = json.loads(bench.cli("jobs", "list", "--status", "stopped", "--format", "json").stdout)["jobs"]
        assert [j["id"] for j in failed] == [job_id]
    finally:
        worker.terminate()
        worker.wait(20)


def test_two_sites_three_queues_shown_before_and_after_a_real_worker(bench: BenchFixture) -> None:
    """What an operator sees of a run: show-pending-jobs, then a worker, then logs --worker (table and JSON)."""
    for site, marker in zip(SITES, ("one", "two"), strict=True):
        bench.set_config(site, marker=marker)
    ids = {(site, queue): enqueue_for(bench, site, "testapp.worker_jobs.site_info", "--queue", queue)
           for site in SITES for queue in QUEUE_TIMEOUTS}
    ping = enqueue_for(bench, "site2.test", "bench_jobs.jobs.builtin.ping", "--queue", "short")

    doc = json.loads(bench.cli("show-pending-jobs", "--all-sites", "--format", "json", site=None).stdout)
    for queue in doc["queues"]:
        expected = {ids[site, queue["queue"]] for site in SITES} | ({ping} if queue["queue"] == "short" else set())
        assert {j["id"] for j in queue["jobs"]} == expected and queue["pending"] == len(expected)
        # the queue's default timeout, written at enqueue
        assert {j["timeout"] for j in queue["jobs"]} == {QUEUE_TIMEOUTS[queue["queue"]]}
        assert {j["site"] for j in queue["jobs"]} == set(SITES)
    table = bench.cli("show-pending-jobs", site="site1.test", env={"COLUMNS": "200"}).stdout
    assert "Next 1 of 1 pending in long" in table and ids["site1.test", "long"] in table and "1500" in table
    assert ids["site2.test", "long"] not in table and ping not in table  # site1's view only

    worker = bench.run("worker", "--burst", "--quiet", timeout=120)
    assert worker.returncode == 0 and "Traceback" not in worker.stdout + worker.stderr, worker.stderr

    client = bench.client()
    for (site, queue), job_id in ids.items():
        data = {k.decode(): v.decode(errors="replace") for k, v in client.hgetall(job_key(job_id)).items()}
        assert data["status"] == "finished" and int(data["timeout"]) == QUEUE_TIMEOUTS[queue]
        assert json.loads(data["bj_result"])["marker"] == {"site1.test": "one", "site2.test": "two"}[site]
    assert json.loads(client.hget(job_key(ping), "bj_result"))["site"] == "site2.test"
    after = json.loads(bench.cli("show-pending-jobs", "--all-sites", "--format", "json", site=None).stdout)
    assert [(q["pending"], q["started"], q["failed"]) for q in after["queues"]] == [(0, 0, 0)] * 3

    text = bench.cli("logs", "--worker", "-n", "100").stdout.splitlines()
    for (site, _queue), job_id in ids.items():
        [line] = [t for t in text if f"job={job_id} " in t and "event=finished" in t]
        assert " INFO    [" in line and f"site={site} method=testapp.worker_jobs.site_info" in line
        assert " duration=" in line
    out = bench.cli("logs", "--worker", "--job", ids["site2.test", "long"], "--format", "json").stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["event"] for r in records] == ["started", "finished"]
    finished = records[1]
    assert finished["site"] == "site2.test" and finished["method"] == "testapp.worker_jobs.site_info"
    assert finished["level"] == "INFO" and finished["process"] and finished["time"].endswith("+00:00")
    assert isinstance(finished["duration"], float)


def enqueue_for(bench: BenchFixture, site: str, method: str, *args: str) -> str:
    result = bench.cli("enqueue", method, *args, site=site)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()
