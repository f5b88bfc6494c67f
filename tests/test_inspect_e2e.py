"""The inspection commands against jobs written by the real enqueue and run by real workers."""

from __future__ import annotations

import json
import subprocess
import time

from bench_jobs.keys import job_key
from tests.conftest import BenchFixture


def enqueue(bench: BenchFixture, method: str, *args: str) -> str:
    result = bench.cli("enqueue", method, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


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
