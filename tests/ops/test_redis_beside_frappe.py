"""`setup redis` beside a Frappe redis_queue.conf keeps its data, port and users; `redis stop` stops
only a Redis that `redis start` started."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from bench_jobs.ops.redis_server import server_binary
from tests.redis_server import free_port


def frappe_redis_files(bench, port: int, with_acl: bool) -> tuple[str, str]:
    """config/redis_queue.conf (+ .acl) as Frappe's bench writes them."""
    config = bench.path / "config"
    (config / "pids").mkdir(parents=True, exist_ok=True)
    conf = (f"dbfilename redis_queue.rdb\ndir {config / 'pids'}\npidfile {config / 'pids' / 'redis_queue.pid'}\n"
            f"bind 127.0.0.1\nport {port}\n")
    acl = ""
    if with_acl:
        conf += f"aclfile {config / 'redis_queue.acl'}\n"
        digest = hashlib.sha256(b"frappe-pw").hexdigest()
        acl = (f"user default on nopass ~* &* +@all\n"
               f"user {bench.bench.bench_id} on #{digest} ~rq:[^q]* ~rq:queues "
               f"~rq:queue:{bench.bench.bench_id}:* +@all -@admin\n")
        (config / "redis_queue.acl").write_text(acl)
    (config / "redis_queue.conf").write_text(conf)
    bench.set_config(redis_queue=f"redis://127.0.0.1:{port}")
    return conf, acl


def test_setup_redis_keeps_frappe_conf_data_port_and_users(bench):
    port = free_port()
    conf, acl = frappe_redis_files(bench, port, with_acl=True)
    config = bench.path / "config"
    before = dict(bench.bench.common_config)
    # Frappe's Redis has run with RDB only: its dump holds the queue.
    (config / "pids" / "redis_queue.rdb").write_bytes(b"REDIS0009")
    result = bench.cli("setup", "redis", site=None)
    assert result.exit_code == 0, result.output
    assert (config / "redis_queue.conf").read_text() == conf
    assert (config / "redis_queue.acl").read_text() == acl
    bench.bench.reload()
    assert dict(bench.bench.common_config) == before  # use_rq_auth, credentials: untouched
    beside = (config / "redis_queue.bench-jobs.conf").read_text()
    assert f'include "{config / "redis_queue.conf"}"' in beside
    assert "appendonly yes" not in beside  # it would start empty, ignoring the dump
    assert "CONFIG SET appendonly yes" in result.output
    assert "maxmemory-policy noeviction" in beside
    users = (config / "redis_queue.bench-jobs.acl").read_text()
    assert f"~bj:{bench.bench.bench_id}:*" in users and "user default on nopass" in users
    assert "was not written by bench-jobs: kept as it is" in result.output


@pytest.mark.slow
def test_beside_conf_runs_with_frappe_data_and_users(bench):
    """The beside conf, run by `redis start`, loads Frappe's dump, keeps its port and users, and
    the bench user gains bench-jobs' keys; `redis stop` stops it (bench-jobs started it)."""
    port = free_port()
    frappe_redis_files(bench, port, with_acl=True)
    config = bench.path / "config"
    # Frappe's Redis, started the way Frappe does, queues a job and saves its dump.
    frappe = subprocess.Popen([server_binary(), str(config / "redis_queue.conf")], stdout=subprocess.DEVNULL)
    try:
        import redis

        from tests.redis_server import RedisProcess

        waiter = RedisProcess(bench.path / "w", port)
        waiter._wait(up=True)
        client = redis.Redis(port=port)
        client.rpush(f"rq:queue:{bench.bench.bench_id}:default", "frappe-job-1")
        client.save()
        # `redis stop` refuses: bench-jobs did not start this one.
        refused = bench.run("redis", "stop")
        assert refused.returncode == 1 and "was not started by `bench-jobs redis start`" in refused.stderr
        assert client.ping()
        client.shutdown(nosave=True)
    finally:
        frappe.wait(10)
    result = bench.cli("setup", "redis", site=None)
    assert result.exit_code == 0, result.output
    started = bench.run("redis", "start")
    assert started.returncode == 0, started.stderr
    try:
        user = redis.Redis(port=port, username=bench.bench.bench_id, password="frappe-pw")
        assert user.lrange(f"rq:queue:{bench.bench.bench_id}:default", 0, -1) == [b"frappe-job-1"]
        user.set(f"bj:{bench.bench.bench_id}:probe", "1")  # bench-jobs' keys granted
        assert redis.Redis(port=port).ping()  # Frappe's nopass default user kept
    finally:
        stopped = bench.run("redis", "stop")
    assert stopped.returncode == 0, stopped.stderr
