"""setup supervisor / setup systemd: the files, checked by the real tools that read them."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench_jobs.ops import process_files as procfiles
from tests.redis_server import free_port

VENV_BIN = Path(sys.executable).parent


def _setup(bench, kind: str, *args: str):
    result = bench.cli("setup", kind, *args, site=None)
    assert result.exit_code == 0, result.output + result.stderr
    return result


def _custom_queue(bench) -> None:
    bench.set_config(workers={"reports": {"timeout": 900, "background_workers": 2}},
                     background_process_niceness=7)


def test_supervisor_conf_stop_timeouts_exceed_job_timeouts(bench):
    _custom_queue(bench)
    result = _setup(bench, "supervisor", "--skip-redis")
    path = bench.path / "config" / "supervisor.conf"
    assert str(path) in result.stdout
    parser = configparser.RawConfigParser()
    parser.read(path)
    prefix = procfiles.unit_prefix(bench.bench)
    timeouts = bench.bench.queue_timeouts()
    for queue, timeout in timeouts.items():
        section = parser[f"program:{prefix}-worker-{queue}"]
        assert int(section["stopwaitsecs"]) > timeout
        assert section["stopsignal"] == "TERM"
        assert section["stopasgroup"] == section["killasgroup"] == "true"
        assert section["command"].startswith(f"nice -n 7 {VENV_BIN / 'bench-jobs'} worker --queue {queue}")
        assert section["environment"] == f'BENCH_PATH="{bench.path}"'
        assert section["stdout_logfile"].startswith(str(bench.path / "logs"))
    assert parser[f"program:{prefix}-worker-reports"]["numprocs"] == "2"
    assert parser[f"program:{prefix}-worker-default"]["numprocs"] == "1"
    assert parser[f"program:{prefix}-schedule"]["command"].endswith("bench-jobs schedule")
    assert parser[f"program:{prefix}-web"]["command"].endswith("bench-jobs serve --processes 2")
    assert not any(name.endswith("redis-queue") for name in parser.sections())


def test_setup_is_atomic_and_rewrites(bench):
    _setup(bench, "supervisor")
    first = (bench.path / "config" / "supervisor.conf").read_text()
    _custom_queue(bench)
    _setup(bench, "supervisor")
    second = (bench.path / "config" / "supervisor.conf").read_text()
    assert "worker-reports" in second and "worker-reports" not in first
    assert not list((bench.path / "config").glob(".*.tmp"))


def test_redis_program_only_with_its_config(bench):
    result = _setup(bench, "supervisor")
    assert "setup redis" in result.stderr  # tells the operator Redis was left out, and why
    (bench.path / "config" / "redis_queue.conf").write_text("port 0\n")
    _setup(bench, "supervisor")
    text = (bench.path / "config" / "supervisor.conf").read_text()
    assert "redis_queue.conf --daemonize no" in text


def test_systemd_units(bench):
    _custom_queue(bench)
    (bench.path / "config" / "redis_queue.conf").write_text("port 0\n")
    _setup(bench, "systemd", "--user", "nobody")
    directory = bench.path / "config" / "systemd"
    prefix = procfiles.unit_prefix(bench.bench)
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted([f"{prefix}.target", f"{prefix}-workers.target", f"{prefix}-schedule.service",
                            f"{prefix}-redis-queue.service", f"{prefix}-web.service",
                            *(f"{prefix}-worker-{q}@.service" for q in ("short", "default", "long", "reports"))])
    reports = (directory / f"{prefix}-worker-reports@.service").read_text()
    assert "TimeoutStopSec=930" in reports and "KillSignal=SIGTERM" in reports and "Nice=7" in reports
    assert "User=nobody" in reports
    wants = (directory / f"{prefix}-workers.target").read_text()
    assert f"{prefix}-worker-reports@2.service" in wants and f"{prefix}-worker-reports@3" not in wants

    # A queue dropped from the config loses its unit on the next run.
    bench.set_config(workers={})
    _setup(bench, "systemd")
    assert not (directory / f"{prefix}-worker-reports@.service").exists()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify(bench):
    _custom_queue(bench)
    (bench.path / "config" / "redis_queue.conf").write_text("port 0\n")
    _setup(bench, "systemd")
    directory = bench.path / "config" / "systemd"
    units = [str(p) for p in sorted(directory.iterdir())]
    # A template is verified through one of its instances (file:instance).
    units = [f"{u}:{Path(u).name.replace('@.', '@1.')}" if "@." in u else u for u in units]
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                          timeout=60, cwd=directory)
    ours = [line for line in proc.stderr.splitlines() if procfiles.unit_prefix(bench.bench) in line]
    assert proc.returncode == 0 and not ours, proc.stderr


def _supervisord_conf(tmp: Path, include: Path, port: int) -> Path:
    conf = tmp / "supervisord.conf"
    conf.write_text(f"""[inet_http_server]
port=127.0.0.1:{port}
[supervisord]
nodaemon=true
logfile={tmp}/supervisord.log
pidfile={tmp}/supervisord.pid
childlogdir={tmp}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=http://127.0.0.1:{port}
[include]
files={include}
""")
    return conf


def _ctl(conf: Path, *args: str) -> str:
    proc = subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(conf), *args],
                          capture_output=True, text=True, timeout=60)
    return proc.stdout + proc.stderr


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_real_supervisord_runs_redis_and_a_worker_that_processes_a_job(bench, tmp_path):
    """supervisord loads the generated file, starts the bench's Redis and workers; a job runs."""
    redis_dir = tmp_path / "redis-data"
    redis_dir.mkdir()
    redis_port = free_port()
    (bench.path / "config" / "redis_queue.conf").write_text(
        f"port {redis_port}\nbind 127.0.0.1\ndir {redis_dir}\nsave \"\"\nappendonly no\n")
    bench.set_config(redis_queue=f"redis://127.0.0.1:{redis_port}")
    _setup(bench, "supervisor")
    conf = _supervisord_conf(tmp_path, bench.path / "config" / "supervisor.conf", free_port())
    supervisord = subprocess.Popen([str(VENV_BIN / "supervisord"), "-c", str(conf)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    prefix = procfiles.unit_prefix(bench.bench)
    worker = f"{prefix}-workers:{prefix}-worker-default-0"
    try:
        _wait_for(lambda: "RUNNING" in _ctl(conf, "status", worker), 30, "the default worker to run")
        assert "RUNNING" in _ctl(conf, "status", f"{prefix}-redis:{prefix}-redis-queue")
        out = tmp_path / "ran.txt"
        result = bench.run("--site", bench.site, "enqueue", "testapp.jobs.append_line",
                           "--kwargs", f'{{"path": "{out}", "text": "via supervisord"}}')
        assert result.returncode == 0, result.stderr
        _wait_for(lambda: out.exists() and "via supervisord" in out.read_text(), 30, "the job to run")
        # Warm stop: `supervisorctl stop` (SIGTERM to the whole group) lets the running job finish.
        marks = tmp_path / "warm.txt"
        result = bench.run("--site", bench.site, "enqueue", "testapp.worker_jobs.sleep_then_mark",
                           "--kwargs", f'{{"path": "{marks}", "seconds": 2}}')
        assert result.returncode == 0, result.stderr
        _wait_for(lambda: marks.exists() and "start" in marks.read_text(), 30, "the slow job to start")
        assert "stopped" in _ctl(conf, "stop", worker)
        assert "STOPPED" in _ctl(conf, "status", worker)
        assert marks.read_text().splitlines()[-1] == "done"  # finished before the worker exited
        shown = bench.run("--site", bench.site, "jobs", "show", result.stdout.strip(), "--format", "json")
        assert json.loads(shown.stdout)["status"] == "finished", shown.stdout + shown.stderr
    finally:
        os.killpg(supervisord.pid, signal.SIGTERM)
        try:
            supervisord.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(supervisord.pid, signal.SIGKILL)
            supervisord.wait(10)
