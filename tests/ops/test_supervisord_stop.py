"""Stopping a bench under a real supervisord while a job runs: `stop all` (which signals Redis and
the workers at once), `restart all` and `shutdown` (which stops groups in priority order, Redis last).
Every job ends once with its real result, no worker is killed by the supervisor, no traceback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest

from bench_jobs.ops import process_files as procfiles
from tests.ops.test_procfiles import _ctl, _end, _setup, _start, _supervisord_conf, _wait_for
from tests.redis_server import free_port

JOB_SECONDS = 4


@pytest.mark.slow
@pytest.mark.parametrize("action", ["stop all", "restart all", "shutdown"])
def test_stopping_under_supervisord_during_a_job(bench, tmp_path, action):
    redis_dir = tmp_path / "redis-data"
    redis_dir.mkdir()
    port = free_port()
    (bench.path / "config" / "redis_queue.conf").write_text(
        f"port {port}\nbind 127.0.0.1\ndir {redis_dir}\nsave \"\"\nappendonly yes\nappendfsync always\n")
    bench.set_config(redis_queue=f"redis://127.0.0.1:{port}", worker_dead_after=3)
    _setup(bench, "supervisor")
    conf = _supervisord_conf(tmp_path, bench.path / "config" / "supervisor.conf", free_port())
    prefix = procfiles.unit_prefix(bench.bench)
    worker = f"{prefix}-workers:{prefix}-worker-default-0"
    supervisord = _start(conf)
    try:
        _wait_for(lambda: "RUNNING" in _ctl(conf, "status", worker), 30, "the default worker to run")
        marks = tmp_path / "marks.txt"
        result = bench.run("--site", bench.site, "enqueue", "testapp.worker_jobs.sleep_then_mark",
                           "--kwargs", json.dumps({"path": str(marks), "seconds": JOB_SECONDS}))
        assert result.returncode == 0, result.stderr
        job_id = result.stdout.strip()
        _wait_for(lambda: marks.exists() and "start" in marks.read_text(), 30, "the job to start")
        if action == "shutdown":
            _ctl(conf, "shutdown")
            supervisord.wait(120)
            supervisord = _start(conf)
        else:
            out = _ctl(conf, *action.split())
            assert "ERROR" not in out, out
            if action == "stop all":
                assert "STOPPED" in _ctl(conf, "status", worker)
                _ctl(conf, "start", "all")

        def ended() -> str | None:
            shown = bench.run("--site", bench.site, "jobs", "show", job_id, "--format", "json")
            status = json.loads(shown.stdout)["status"] if shown.returncode == 0 else None
            return status if status in ("finished", "failed") else None

        _wait_for(ended, 60, "the job to be recorded")
        assert ended() == "finished"
        assert marks.read_text().split("\n").count("done") == 1  # ran once, to its end
        assert sum(line.startswith("start") for line in marks.read_text().splitlines()) == 1
        log = (tmp_path / "supervisord.log").read_text()
        assert "SIGKILL" not in log, log  # every program stopped by itself, in time
        logs = bench.path / "logs"
        for name in ("worker.stderr.log", "worker.error.log", "scheduler.stderr.log"):
            text = (logs / name).read_text() if (logs / name).exists() else ""
            assert "Traceback" not in text, f"{name}: {text}"
        worker_log = (logs / "worker.log").read_text()
        assert "died" not in worker_log
        if action != "shutdown":  # Redis went down with the workers: the ending waited on disk
            assert "event=spooled" in worker_log and "event=recorded" in worker_log, worker_log
    finally:
        _end(supervisord)
        _kill_leftovers(str(bench.path), f"127.0.0.1:{port}")


def _kill_leftovers(*marks: str) -> None:
    """Programs outlive a supervisord that had to be SIGKILLed (each runs in a process group of its
    own): end what this test started, found by the bench path or the Redis address in its command line."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(mark in cmdline for mark in marks):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
