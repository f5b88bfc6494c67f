"""Helpers for tests that run a bench's own Redis (`redis start`) as a new user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.redis_server import free_port


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`bench-jobs ARGS` in a real subprocess, without BENCH_PATH/BENCH_SITE from the caller."""
    base = {k: v for k, v in os.environ.items() if k not in ("BENCH_PATH", "BENCH_SITE")}
    return subprocess.run([sys.executable, "-m", "bench_jobs", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=90, stdin=subprocess.DEVNULL, env={**base, **(env or {})})


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def new_bench(root: Path, site: str = "site1.local") -> tuple[Path, int]:
    """init (on a free port) -> new-site -> use, as a new user would; returns (bench dir, port)."""
    port = free_port()
    ok(run("init", "bench", "--redis-port", str(port), cwd=root))
    bench_dir = root / "bench"
    ok(run("new-site", site, cwd=bench_dir))
    ok(run("use", site, cwd=bench_dir))
    return bench_dir, port


def kill_bench_redis(bench_dir: Path) -> None:
    """Test cleanup: SIGKILL the bench's Redis if a failed test left it running."""
    pidfile = bench_dir / "config" / "pids" / "redis_queue.pid"
    try:
        pid = int(pidfile.read_text().strip())
        name = Path(f"/proc/{pid}/comm").read_text()
    except (OSError, ValueError):
        return
    if name.startswith(("redis-server", "valkey-server")):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


@contextmanager
def cleanup(bench_dir: Path) -> Iterator[None]:
    try:
        yield
    finally:
        kill_bench_redis(bench_dir)
