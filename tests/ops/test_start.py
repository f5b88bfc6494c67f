"""bench-jobs start: Redis (managed), workers per queue and the scheduler in the foreground; SIGTERM stops all."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import pytest

from bench_jobs.bench.config import update_json
from bench_jobs.bench.context import reset_clients
from tests.redis_server import free_port
from tests.sched_helpers import make_app
from tests.waiting import wait_for


@pytest.mark.slow
def test_start_runs_the_bench_and_stops_it_on_sigterm(bench, tmp_path) -> None:
    port = free_port()
    update_json(bench.bench.common_config_file, {"redis_queue": f"redis://127.0.0.1:{port}",
                                                 "workers": {"reports": {"timeout": 60, "background_workers": 2}}})
    bench.bench.reload()
    make_app(tmp_path, bench.bench, {"cron": {"* * * * * */2": ["testapp.jobs.noop"]}})
    proc = bench.popen("start", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def status() -> dict | None:
            reset_clients()
            result = bench.run("--site", "site1.test", "scheduler", "status", "--format", "json")
            return json.loads(result.stdout) if result.returncode == 0 else None

        doc = wait_for(lambda: (s := status()) and s["leader"] and s, timeout=40)
        assert doc["alive"]

        def list_workers() -> list:
            result = bench.run("workers", "--format", "json")
            return json.loads(result.stdout)["workers"] if result.returncode == 0 else []

        workers = wait_for(lambda: len(w := list_workers()) >= 5 and w, timeout=40)
        assert len(workers) == 5  # short, default, long, and reports x2
        job = bench.run("--site", "site1.test", "enqueue", "testapp.jobs.add", "--kwargs", '{"a": 2, "b": 3}')
        assert job.returncode == 0, job.stderr
        assert bench.run("--site", "site1.test", "jobs", "wait", "--timeout", "20").returncode == 0
        ran = wait_for(lambda: [e for e in _log(bench) if e.get("kind") == "end"], timeout=20)
        assert ran[0]["status"] == "finished"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out
    lines = out.splitlines()
    for name in ("scheduler", "worker.default", "worker.reports.2", "redis"):
        assert any(f" {name} " in line and "|" in line for line in lines), (name, out[-3000:])
    assert "SIGTERM received" in out and "redis" in lines[-1] and "stopped" in lines[-1]
    # one timestamp per line, the supervisor's: the children leave their own out of what they print
    stamped_twice = [line for line in lines if re.search(r"\| \d{4}-\d\d-\d\dT", line)]
    assert not stamped_twice, stamped_twice[:3]
    assert any(re.search(r"^\d\d:\d\d:\d\d scheduler +\| INFO +\[scheduler-\d+\] event=leader", line)
               for line in lines), out[-3000:]
    assert subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode != 0 \
        or b"PONG" not in subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout


def _log(bench) -> list[dict]:
    result = bench.run("--site", "site1.test", "scheduler", "log", "--format", "json")
    return json.loads(result.stdout)["entries"] if result.returncode == 0 else []


def test_start_with_redis_down_is_a_clean_error(bench) -> None:
    bench.set_config(redis_queue="redis://127.0.0.1:1")
    result = bench.run("start", "--no-redis", timeout=30)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not reachable" in result.stderr
