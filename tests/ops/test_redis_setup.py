"""`setup redis`: a queue-safe config, an ACL user whose password is stored and never printed,
idempotent re-runs, and files that are replaced whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from redis.backoff import NoBackoff
from redis.retry import Retry

from bench_jobs.bench.admin import create_bench, create_site
from bench_jobs.bench.config import update_json
from bench_jobs.bench.connection import connect
from bench_jobs.bench.layout import Bench
from bench_jobs.cli import cli
from bench_jobs.ops import redis_server
from bench_jobs.ops.redis_config import RedisFiles
from tests.bench_redis import cleanup
from tests.conftest import assert_clean_error, read_json_file
from tests.redis_server import free_port

NO_RETRY = Retry(NoBackoff(), 0)  # an auth failure is final; redis-py would otherwise retry it for seconds


def make(tmp_path: Path) -> Bench:
    bench = create_bench(tmp_path / "bench", free_port())
    create_site(bench, "site1.local")
    update_json(bench.common_config_file, {"my_own_key": {"kept": True}})
    bench.reload()
    return bench


def setup(bench: Bench, *extra: str):
    return CliRunner().invoke(cli, ["--bench", str(bench.path), "setup", "redis", *extra])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_is_fit_for_a_queue_and_the_secret_stays_secret(tmp_path: Path) -> None:
    bench = make(tmp_path)
    result = setup(bench)
    assert result.exit_code == 0, result.output
    files = RedisFiles.of(bench)
    conf = files.conf.read_text()
    port = bench.redis_url.rsplit(":", 1)[1]
    for line in (f"port {port}", "protected-mode yes", "appendonly yes", "appendfsync everysec",
                 "maxmemory-policy noeviction", f'aclfile "{files.acl}"', f'pidfile "{files.pidfile}"',
                 f'logfile "{bench.path}/logs/redis_queue.log"', f'dir "{files.data_dir}"'):
        assert f"\n{line}\n" in conf
    assert "\nbind 127.0.0.1" in conf

    common = read_json_file(bench.common_config_file)
    assert common["use_rq_auth"] is True
    assert common["rq_username"] == bench.bench_id
    password = common["rq_password"]
    assert len(password) >= 32
    assert common["my_own_key"] == {"kept": True} and common["background_workers"] == 1
    acl = files.acl.read_text()
    # `default` stays on (AOF replay needs it, redis#14541) but only behind an unknown password.
    assert acl.startswith("user default on #") and "nopass" not in acl
    assert password not in acl and password not in conf and password not in result.output
    for path in (files.conf, files.acl, bench.common_config_file):
        assert mode(path) == 0o600, path
    assert mode(files.data_dir) == 0o700


def test_rerun_keeps_the_password_unless_asked(tmp_path: Path) -> None:
    bench = make(tmp_path)
    assert setup(bench).exit_code == 0
    first = read_json_file(bench.common_config_file)["rq_password"]
    assert "password kept" in setup(bench).output
    assert read_json_file(bench.common_config_file)["rq_password"] == first
    result = setup(bench, "--regenerate-password")
    assert "new password" in result.output
    second = read_json_file(bench.common_config_file)["rq_password"]
    assert second != first and second not in result.output
    assert read_json_file(bench.common_config_file)["my_own_key"] == {"kept": True}


def test_appendfsync_is_configurable_and_checked(tmp_path: Path) -> None:
    bench = make(tmp_path)
    update_json(bench.common_config_file, {"redis_queue_appendfsync": "always"})
    assert setup(bench).exit_code == 0
    assert "\nappendfsync always\n" in RedisFiles.of(bench).conf.read_text()
    update_json(bench.common_config_file, {"redis_queue_appendfsync": "sometimes"})
    before = RedisFiles.of(bench).conf.read_text()
    assert_clean_error(setup(bench), "redis_queue_appendfsync in sites/common_site_config.json is 'sometimes'",
                       "everysec")
    assert RedisFiles.of(bench).conf.read_text() == before


def test_maxmemory_is_configurable_and_checked(tmp_path: Path) -> None:
    bench = make(tmp_path)
    update_json(bench.common_config_file, {"redis_queue_maxmemory": "512MB"})
    assert setup(bench).exit_code == 0
    assert "\nmaxmemory 512MB\n" in RedisFiles.of(bench).conf.read_text()
    before = {path: path.read_bytes() for path in (RedisFiles.of(bench).conf, RedisFiles.of(bench).acl)}
    update_json(bench.common_config_file, {"redis_queue_maxmemory": "lots"})
    assert_clean_error(setup(bench), "redis_queue_maxmemory is 'lots'", "512mb")
    assert {path: path.read_bytes() for path in before} == before


def test_the_real_server_accepts_the_config_and_enforces_auth(tmp_path: Path) -> None:
    bench = make(tmp_path)
    assert setup(bench).exit_code == 0
    port = int(bench.redis_url.rsplit(":", 1)[1])
    with cleanup(bench.path):
        started = redis_server.start(bench)
        assert not started.already_running and started.port == port
        # Nobody gets in without the password: the default user is locked.
        anonymous = redis.Redis(port=port, retry=NO_RETRY)
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            anonymous.ping()
        wrong = redis.Redis(port=port, username=bench.bench_id, password="not-the-password", retry=NO_RETRY)
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
        # The bench's client can do what RQ and bench-jobs need ...
        client = connect(bench)
        own = f"bj:{bench.bench_id}"
        assert client.set(f"{own}:test", "1") and client.get(f"{own}:test") == b"1"
        assert client.eval("return redis.call('INCR', KEYS[1])", 1, f"{own}:counter") == 1
        assert client.client_setname("worker-1") and client.client_list()
        assert client.info("persistence")["aof_enabled"] == 1
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        # ... but cannot administer or wipe the server.
        for command in (("FLUSHALL",), ("CONFIG", "SET", "appendonly", "no"), ("SHUTDOWN",)):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
        client.close()
        assert redis_server.stop(bench).was_running


def test_jobs_written_by_scripts_survive_a_restart(tmp_path: Path) -> None:
    """AOF replay of Lua effects (MULTI/EXEC) must not be refused by the ACL: no job lost on restart."""
    bench = make(tmp_path)
    assert setup(bench).exit_code == 0
    with cleanup(bench.path):
        redis_server.start(bench)
        client = connect(bench)
        own = f"bj:{bench.bench_id}"
        client.eval("redis.call('RPUSH', KEYS[1], 'a', 'b'); redis.call('HSET', KEYS[2], 'f', 'v')", 2,
                    f"{own}:list", f"{own}:hash")
        client.close()
        redis_server.stop(bench)
        redis_server.start(bench)
        client = connect(bench)
        assert client.lrange(f"bj:{bench.bench_id}:list", 0, -1) == [b"a", b"b"]
        assert client.hgetall(f"bj:{bench.bench_id}:hash") == {b"f": b"v"}
        client.close()
        log = (bench.logs_path / "redis_queue.log").read_text()
        assert "NOPERM" not in log
        redis_server.stop(bench)


def test_a_failed_write_leaves_the_old_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = make(tmp_path)
    assert setup(bench).exit_code == 0
    files = RedisFiles.of(bench)
    before = {p: p.read_bytes() for p in (files.conf, files.acl, bench.common_config_file)}
    update_json(bench.common_config_file, {"redis_queue_appendfsync": "always"})
    before[bench.common_config_file] = bench.common_config_file.read_bytes()

    if os.geteuid() != 0:
        bench.config_path.chmod(0o555)  # a read-only config dir
        expected = "is not writable"
    else:
        # root writes through permission bits: fail the write itself instead (a full disk).
        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("bench_jobs.bench.config.os.fsync", disk_full)
        expected = "No space left on device"
    try:
        result = setup(bench, "--regenerate-password")
    finally:
        bench.config_path.chmod(0o755)
    assert_clean_error(result, "cannot write", expected, "setup redis")
    assert {p: p.read_bytes() for p in before} == before
    assert not [p.name for p in bench.config_path.iterdir() if p.name.endswith(".tmp")]
