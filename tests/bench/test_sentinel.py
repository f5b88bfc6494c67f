"""Redis Sentinel: with `redis_queue_sentinel_enabled` every client finds the master through a real
`redis-server --sentinel`, authenticates to both, and a wrong Sentinel setup is a clean error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench_jobs.bench.admin import add_app, create_bench, create_site
from bench_jobs.bench.config import update_json
from bench_jobs.bench.connection import check, connect
from bench_jobs.bench.context import reset_clients
from bench_jobs.bench.layout import Bench
from bench_jobs.cli import cli
from tests.conftest import assert_clean_error
from tests.redis_server import RedisProcess, SentinelProcess, free_port

USER, PASSWORD = "benchuser", "master-secret-1"
SENTINEL_PASSWORD = "sentinel-secret-2"


@pytest.fixture
def master(tmp_path: Path) -> RedisProcess:
    """A master that only the bench's ACL user may use (`default` off), like a production queue Redis."""
    server = RedisProcess(tmp_path / "master", None, "--user", "default", "off",
                          "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all").start()
    yield server
    server.kill()


@pytest.fixture
def sentinel(tmp_path: Path, master: RedisProcess) -> SentinelProcess:
    server = SentinelProcess(tmp_path / "sentinel", master, "queue-master", master_auth=(USER, PASSWORD),
                             requirepass=SENTINEL_PASSWORD).start()
    yield server
    server.kill()


def sentinel_bench(tmp_path: Path, sentinel: SentinelProcess, **overrides: object) -> Bench:
    bench = create_bench(tmp_path / "bench", free_port())
    create_site(bench, "site1.local")
    add_app(bench, "testapp")
    config = {
        # redis_queue points nowhere: with Sentinel on, only the Sentinel keys may be used.
        "redis_queue": f"redis://127.0.0.1:{free_port()}",
        "redis_queue_sentinel_enabled": True,
        "redis_queue_sentinels": [f"127.0.0.1:{sentinel.port}"],
        "redis_queue_master_service": sentinel.service,
        "redis_queue_sentinel_password": SENTINEL_PASSWORD,
        "use_rq_auth": True, "rq_username": USER, "rq_password": PASSWORD,
        **overrides,
    }
    update_json(bench.common_config_file, config)
    bench.reload()
    return bench


def invoke(bench: Bench, *args: str):
    reset_clients()  # each call a fresh process would make: no client cached from the last config
    return CliRunner().invoke(cli, ["--bench", str(bench.path), "--site", "site1.local", *args])


def test_connects_to_the_master_through_sentinel(tmp_path: Path, master: RedisProcess,
                                                 sentinel: SentinelProcess) -> None:
    bench = sentinel_bench(tmp_path, sentinel)
    client = connect(bench)
    check(client, bench)
    client.set("through-sentinel", "yes")
    assert master.client(username=USER, password=PASSWORD).get("through-sentinel") == b"yes"
    # The CLI goes the same way: a job enqueued lands on the master and show-pending-jobs counts it.
    result = invoke(bench, "enqueue", "testapp.jobs.noop")
    assert result.exit_code == 0, result.output
    doc = json.loads(invoke(bench, "show-pending-jobs", "--queue", "default", "--format", "json").stdout)
    assert doc["queues"][0]["pending"] == 1
    status = invoke(bench, "redis", "status", "--format", "json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["port"] == master.port


def test_frappe_master_credentials_override_the_bench_user(tmp_path: Path, sentinel: SentinelProcess) -> None:
    bench = sentinel_bench(tmp_path, sentinel, rq_password="wrong",
                           redis_queue_master_username=USER, redis_queue_master_password=PASSWORD)
    check(connect(bench), bench)


def short_error(result, *fragments: str) -> None:
    assert_clean_error(result, *fragments)
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
    assert "Redis<" not in result.stderr and "ConnectionPool" not in result.stderr  # no redis-py reprs
    assert PASSWORD not in result.stderr and SENTINEL_PASSWORD not in result.stderr


def test_a_wrong_sentinel_setup_is_a_clean_error(tmp_path: Path, sentinel: SentinelProcess) -> None:
    bench = sentinel_bench(tmp_path, sentinel, redis_queue_master_service="no-such-service")
    short_error(invoke(bench, "show-pending-jobs"), "Redis Sentinel service no-such-service is not reachable "
                "(no Sentinel monitors a master named 'no-such-service')", "redis_queue_sentinels")

    update_json(bench.common_config_file, {"redis_queue_master_service": sentinel.service,
                                           "redis_queue_sentinel_password": "wrong"})
    short_error(invoke(bench, "show-pending-jobs"), "a Sentinel refused redis_queue_sentinel_username")

    update_json(bench.common_config_file, {"redis_queue_sentinel_password": SENTINEL_PASSWORD, "rq_password": "wrong"})
    short_error(invoke(bench, "redis", "status"), "Redis Sentinel service queue-master refused our credentials")

    update_json(bench.common_config_file, {"rq_password": PASSWORD, "redis_queue_sentinels": ["127.0.0.1"]})
    short_error(invoke(bench, "show-pending-jobs"), "is not HOST:PORT")

    update_json(bench.common_config_file, {"redis_queue_sentinels": [f"127.0.0.1:{sentinel.port}"]})
    assert invoke(bench, "redis", "status").exit_code == 0
    sentinel.kill()
    short_error(invoke(bench, "redis", "status"), f"no Sentinel answered at 127.0.0.1:{sentinel.port}")
    short_error(invoke(bench, "show-pending-jobs"), "Redis Sentinel service queue-master is not reachable")
