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
        # the install's interpreter first on PATH, and what makes the apps importable (testapp is
        # on PYTHONPATH only): a process manager starts programs with neither
        assert section["environment"].startswith(f'BENCH_PATH="{bench.path}",PATH="{VENV_BIN}:')
        pythonpath = section["environment"].split('PYTHONPATH="', 1)[1].split('"', 1)[0]
        # other tests may prepend theirs
        assert str(Path(__file__).parents[1] / "apps") in pythonpath.split(os.pathsep)
        # bench-jobs writes worker.log / worker.error.log itself: stdout would repeat them,
        # stderr (a crash) gets a file of its own
        assert section["stdout_logfile"] == "NONE"
        assert section["stderr_logfile"] == str(bench.path / "logs" / "worker.stderr.log")
    assert parser[f"program:{prefix}-worker-reports"]["numprocs"] == "2"
    assert parser[f"program:{prefix}-worker-default"]["numprocs"] == "1"
    assert parser[f"program:{prefix}-schedule"]["command"].endswith("bench-jobs schedule")
    assert parser[f"program:{prefix}-web"]["command"].endswith("bench-jobs serve --processes 2")
    assert not any(name.endswith("redis-queue") for name in parser.sections())
    assert parser[f"group:{prefix}-workers"]["priority"] == "10"


def test_supervisor_starts_redis_first_and_stops_it_last(bench):
    (bench.path / "config" / "redis_queue.conf").write_text("port 0\n")
    _setup(bench, "supervisor")
    parser = configparser.RawConfigParser()
    parser.read(bench.path / "config" / "supervisor.conf")
    prefix = procfiles.unit_prefix(bench.bench)
    # supervisord starts groups by ascending priority and stops them (shutdown) descending
    assert int(parser[f"group:{prefix}-redis"]["priority"]) < int(parser[f"group:{prefix}-workers"]["priority"])


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
    # Redis starts first and stops last (it takes the workers down with it)
    assert f"After=network-online.target {prefix}-redis-queue.service" in reports
    assert f"Requires={prefix}-redis-queue.service" in reports
    assert f"Environment=\"PATH={VENV_BIN}:" in reports and "StandardOutput=null" in reports
    assert f"StandardError=append:{bench.path / 'logs' / 'worker.stderr.log'}" in reports
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


def _start(conf: Path) -> subprocess.Popen:
    """supervisord in a session of its own, so `_end` can signal it and every program it started."""
    return subprocess.Popen([str(VENV_BIN / "supervisord"), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _end(supervisord: subprocess.Popen) -> None:
    """SIGTERM to supervisord's whole group (SIGKILL after a minute); nothing when it is gone already."""
    try:
        os.killpg(supervisord.pid, signal.SIGTERM)
    except ProcessLookupError:
        supervisord.wait(10)
        return
    try:
        supervisord.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(supervisord.pid, signal.SIGKILL)
        supervisord.wait(10)


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
    supervisord = _start(conf)
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
        _end(supervisord)


def _frappe_supervisor_conf(bench, tmp: Path, redis_queue_port: int, redis_cache_port: int) -> str:
    """config/supervisor.conf as Frappe's `bench setup supervisor` writes it (programs and groups),
    with stand-ins for gunicorn, socketio and Frappe's workers, and real redis-servers."""
    prefix = procfiles.unit_prefix(bench.bench)
    config = bench.path / "config"
    sleeper = '/bin/sh -c "exec sleep 100000"'
    programs = {
        f"{prefix}-frappe-web": f"{sleeper} gunicorn",
        f"{prefix}-node-socketio": f"{sleeper} socketio",
        f"{prefix}-frappe-schedule": f"{sleeper} schedule",
        f"{prefix}-frappe-default-worker": f"{sleeper} worker",
        f"{prefix}-redis-cache": f"{shutil.which('redis-server')} {config / 'redis_cache.conf'}",
        f"{prefix}-redis-queue": f"{shutil.which('redis-server')} {config / 'redis_queue.conf'}",
    }
    (config / "redis_cache.conf").write_text(f"port {redis_cache_port}\nbind 127.0.0.1\nsave \"\"\n"
                                             f"dir {tmp}\n")
    lines = []
    for name, command in programs.items():
        lines += [f"[program:{name}]", f"command={command}", "autostart=true", "autorestart=true",
                  f"directory={bench.path}", f"stdout_logfile={tmp / (name + '.log')}", "redirect_stderr=true",
                  "stopasgroup=true", "killasgroup=true", ""]
    lines += [f"[group:{prefix}-web]", f"programs={prefix}-frappe-web,{prefix}-node-socketio", "",
              f"[group:{prefix}-workers]", f"programs={prefix}-frappe-schedule,{prefix}-frappe-default-worker", "",
              f"[group:{prefix}-redis]", f"programs={prefix}-redis-cache,{prefix}-redis-queue", ""]
    return "\n".join(lines)


def _pids(conf: Path) -> dict[str, str]:
    """program -> pid of every RUNNING program, from `supervisorctl status`."""
    out = {}
    for line in _ctl(conf, "status").splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == "RUNNING":
            out[parts[0].split(":")[-1]] = parts[3].rstrip(",")
    return out


@pytest.mark.slow
def test_beside_a_frappe_supervisor_conf_nothing_of_it_is_touched(bench, tmp_path):
    """A real supervisord runs Frappe's supervisor.conf; `setup supervisor` leaves it byte for byte,
    writes its own beside it; `reread` + `update` start bench-jobs' workers while Frappe's web,
    socketio and Redis programs keep running (same pids), and a job runs on Frappe's queue Redis."""
    prefix = procfiles.unit_prefix(bench.bench)
    config = bench.path / "config"
    redis_port = free_port()
    (config / "pids").mkdir(parents=True, exist_ok=True)
    # Frappe's redis_queue.conf (no bench-jobs marker): bench-jobs must not run a second Redis on it.
    (config / "redis_queue.conf").write_text(f"dbfilename redis_queue.rdb\ndir {config / 'pids'}\n"
                                             f"pidfile {config / 'pids' / 'redis_queue.pid'}\nbind 127.0.0.1\n"
                                             f"port {redis_port}\n")
    bench.set_config(redis_queue=f"redis://127.0.0.1:{redis_port}")
    frappe_conf = config / "supervisor.conf"
    frappe_conf.write_text(_frappe_supervisor_conf(bench, tmp_path, redis_port, free_port()))
    before = frappe_conf.read_bytes()
    conf = _supervisord_conf(tmp_path, config / "supervisor*.conf", free_port())
    supervisord = _start(conf)
    try:
        _wait_for(lambda: len(_pids(conf)) == 6, 30, "Frappe's six programs to run")
        frappe_pids = _pids(conf)

        result = _setup(bench, "supervisor")
        beside = config / "supervisor.bench-jobs.conf"
        assert frappe_conf.read_bytes() == before
        assert f"{frappe_conf} was not written by bench-jobs: left as it is" in result.output
        assert f"sudo ln -sf {beside} /etc/supervisor/conf.d/{prefix}-bench-jobs.conf" in result.output
        assert f"sudo supervisorctl stop {prefix}-frappe-schedule {prefix}-frappe-default-worker" in result.output
        sections = configparser.ConfigParser(interpolation=None)
        sections.read(beside)
        assert not any("redis" in name for name in sections.sections())  # Frappe's file runs the queue Redis
        assert all(f"{prefix}-bench-jobs" in name for name in sections.sections())
        # Running it again changes nothing of theirs either.
        _setup(bench, "supervisor")
        assert frappe_conf.read_bytes() == before

        assert "added process group" in _ctl(conf, "update")
        worker = f"{prefix}-bench-jobs-workers:{prefix}-bench-jobs-worker-default-0"
        _wait_for(lambda: "RUNNING" in _ctl(conf, "status", worker), 30, "bench-jobs' default worker to run")
        still = _pids(conf)
        for name, pid in frappe_pids.items():
            assert still.get(name) == pid, f"{name} was restarted or stopped by the update"
        out = tmp_path / "ran.txt"
        enq = bench.run("--site", bench.site, "enqueue", "testapp.jobs.append_line",
                        "--kwargs", f'{{"path": "{out}", "text": "beside frappe"}}')
        assert enq.returncode == 0, enq.stderr
        _wait_for(lambda: out.exists() and "beside frappe" in out.read_text(), 30, "the job to run")
        # The switch: Frappe's workers stop, web / socketio / redis stay.
        _ctl(conf, "stop", f"{prefix}-workers:")
        after = _pids(conf)
        for name in (f"{prefix}-frappe-web", f"{prefix}-node-socketio", f"{prefix}-redis-cache",
                     f"{prefix}-redis-queue"):
            assert after.get(name) == frappe_pids[name], name
    finally:
        _end(supervisord)


def test_systemd_leaves_frappe_units_alone(bench):
    directory = bench.path / "config" / "systemd"
    directory.mkdir(parents=True)
    prefix = procfiles.unit_prefix(bench.bench)
    theirs = {f"{prefix}.target": "[Unit]\nDescription=frappe-bench\n",
              f"{prefix}-workers.target": "[Unit]\nDescription=frappe workers\n",
              f"{prefix}-frappe-web.service": "[Service]\nExecStart=/bin/true\n",
              f"{prefix}-redis-queue.service": "[Service]\nExecStart=/usr/bin/redis-server\n"}
    for name, text in theirs.items():
        (directory / name).write_text(text)
    result = _setup(bench, "systemd")
    for name, text in theirs.items():
        assert (directory / name).read_text() == text, name
    assert f"{prefix}-bench-jobs.target" in result.output
    assert (directory / f"{prefix}-bench-jobs-worker-default@.service").is_file()
    assert not list(directory.glob(f"{prefix}-bench-jobs-redis*"))  # their unit runs the queue Redis
    # --force is the operator's explicit choice to replace them.
    _setup(bench, "systemd", "--force")
    assert procfiles.MARKER in (directory / f"{prefix}.target").read_text()
