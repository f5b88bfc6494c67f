"""doctor: each check's ok/warn/fail against a real Redis, exit status, JSON and a clean Redis-down report."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from bench_jobs.jobs.dispatch import Dispatcher, Ending
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.store import enqueue_job
from bench_jobs.jobs.workers import register_worker, unregister_worker
from tests.conftest import BenchFixture, make_bench

ALL_QUEUES = ["short", "default", "long"]


@pytest.fixture
def safe_bench(tmp_path, redis_factory) -> BenchFixture:
    """A bench on its own Redis configured as production wants it: AOF on, noeviction."""
    server = redis_factory("--appendonly", "yes", "--maxmemory-policy", "noeviction")
    return BenchFixture(make_bench(tmp_path / "bench", server), server)


def doctor(bench: BenchFixture, *args: str) -> tuple[int, dict]:
    result = bench.cli("doctor", "--format", "json", *args, site=None)
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, json.loads(result.stdout)


def checks(doc: dict) -> dict[str, tuple[str, str]]:
    return {c["name"]: (c["status"], c["detail"]) for c in doc["checks"]}


def online(bench: BenchFixture, name: str = "w1", queues: list[str] = ALL_QUEUES) -> None:
    register_worker(bench.client(), Keys(bench.bench.bench_id), name, queues, alive_ttl=60)


def enqueue(bench: BenchFixture, queue: str = "default", n: int = 1) -> None:
    for _ in range(n):
        enqueue_job(bench.client(), Keys(bench.bench.bench_id), job_id=None, site="site1.test", queue=queue,
                    method="testapp.jobs.noop", kwargs={}, timeout=300)


def test_redis_down_is_one_failed_check(safe_bench):
    safe_bench.redis.stop()
    code, doc = doctor(safe_bench)
    assert code == 1
    assert doc["healthy"] is False
    assert [c["name"] for c in doc["checks"]] == ["redis"]
    assert doc["checks"][0]["status"] == "fail" and "not reachable" in doc["checks"][0]["detail"]
    table = safe_bench.cli("doctor", site=None)
    assert table.exit_code == 1 and "FAIL" in table.stdout and "Traceback" not in table.output
    assert "redis start" in table.stdout  # the fix is printed


@pytest.mark.slow
def test_healthy_bench_exits_zero(safe_bench):
    online(safe_bench)
    scheduler = safe_bench.popen("schedule", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            code, doc = doctor(safe_bench)
            if checks(doc)["scheduler"][0] == "ok" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    finally:
        scheduler.terminate()
        scheduler.wait(20)
    got = checks(doc)
    assert got["scheduler"][0] == "ok" and "leader" in got["scheduler"][1]
    assert code == 0 and doc["healthy"] is True, doc
    for name in ("redis", "persistence", "eviction", "memory", "failed-jobs", "workers:default", "backlog:long",
                 "scheduler:site1.test", "scheduler:site2.test"):
        assert got[name][0] == "ok", (name, got[name])
    assert got["persistence"][1] == "AOF on"


def test_pending_jobs_without_a_worker_fail(safe_bench):
    online(safe_bench, queues=["short", "long"])
    enqueue(safe_bench, "default", 2)
    code, doc = doctor(safe_bench)
    got = checks(doc)
    assert code == 1
    assert got["workers:default"] == ("fail", "no worker online and 2 job(s) pending")
    assert got["workers:short"][0] == "ok"
    fix = next(c["fix"] for c in doc["checks"] if c["name"] == "workers:default")
    assert "bench-jobs worker --queue default" in fix


def test_queue_without_worker_and_nothing_pending_warns(safe_bench):
    online(safe_bench, queues=["short", "default"])
    assert checks(doctor(safe_bench)[1])["workers:long"][0] == "warn"
    # A worker that stopped cleanly no longer counts.
    unregister_worker(safe_bench.client(), Keys(safe_bench.bench.bench_id), "w1", ["short", "default"])
    assert checks(doctor(safe_bench)[1])["workers:short"][0] == "warn"


def test_backlog_thresholds_come_from_config(safe_bench):
    online(safe_bench)
    enqueue(safe_bench, "short", 3)
    assert checks(doctor(safe_bench)[1])["backlog:short"][0] == "ok"
    safe_bench.set_config(doctor_backlog_warn=3, doctor_backlog_fail=10)
    assert checks(doctor(safe_bench)[1])["backlog:short"] == ("warn", "3 pending, oldest 0s")
    safe_bench.set_config(doctor_backlog_fail=3)
    code, doc = doctor(safe_bench)
    assert checks(doc)["backlog:short"][0] == "fail" and code == 1
    safe_bench.set_config(doctor_backlog_warn=1000, doctor_backlog_fail=10000, doctor_oldest_age_warn=0)
    assert checks(doctor(safe_bench)[1])["backlog:short"][0] == "warn"
    assert checks(doctor(safe_bench)[1])["backlog:long"][0] == "ok"  # empty queues have no age


def test_failed_jobs_in_the_last_hour_warn(safe_bench):
    online(safe_bench)
    enqueue(safe_bench, "default")
    keys = Keys(safe_bench.bench.bench_id)
    dispatcher = Dispatcher(safe_bench.client(), keys, "w1")
    job = dispatcher.claim(["default"])
    dispatcher.finish(job, Ending(status="failed", duration=0.01, error="ValueError: boom"))
    doc = doctor(safe_bench)[1]
    assert checks(doc)["failed-jobs"] == ("warn", "1 job(s) failed in the last hour")
    fix = next(c["fix"] for c in doc["checks"] if c["name"] == "failed-jobs")
    assert "jobs list --status failed" in fix
    assert doctor(safe_bench, "--strict")[0] == 1


def test_unsafe_redis_settings_fail(safe_bench):
    client = safe_bench.client()
    client.config_set("appendonly", "no")
    client.config_set("maxmemory", "1gb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    code, doc = doctor(safe_bench)
    got = checks(doc)
    assert code == 1
    assert got["persistence"][0] == "fail"
    assert got["eviction"][0] == "fail" and "allkeys-lru" in got["eviction"][1]
    client.config_set("save", "3600 1")
    client.config_set("maxmemory-policy", "volatile-lru")
    got = checks(doctor(safe_bench)[1])
    assert got["persistence"][0] == "warn" and got["eviction"][0] == "warn"


def test_memory_near_maxmemory(safe_bench):
    client = safe_bench.client()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", str(int(used / 0.8)))
    got = checks(doctor(safe_bench)[1])
    assert got["memory"][0] in ("warn", "fail")
    client.config_set("maxmemory", "0")


def test_paused_site_warns(safe_bench):
    safe_bench.set_config(site="site2.test", pause_scheduler=1)
    got = checks(doctor(safe_bench)[1])
    assert got["scheduler:site2.test"][0] == "warn" and "paused" in got["scheduler:site2.test"][1]
    assert got["scheduler:site1.test"][0] == "ok"


def test_no_scheduler_fails_only_when_something_is_scheduled(safe_bench):
    online(safe_bench)
    code, doc = doctor(safe_bench)
    got = checks(doc)
    assert code == 1 and got["scheduler"] == ("fail", "no scheduler process is running")
    assert "bench-jobs schedule" in next(c["fix"] for c in doc["checks"] if c["name"] == "scheduler")
    # Every site has it disabled: nothing would run, so no scheduler is needed.
    for site in ("site1.test", "site2.test"):
        safe_bench.set_config(site=site, enable_scheduler=0)
    code, doc = doctor(safe_bench)
    got = checks(doc)
    assert got["scheduler"][0] == "ok" and "nothing to schedule" in got["scheduler"][1]
    assert got["scheduler:site1.test"] == ("warn", "scheduler disabled")
    assert code == 0


def test_scheduler_alive_but_not_leading_warns(safe_bench):
    import json as _json

    keys = Keys(safe_bench.bench.bench_id)
    entry = {"host": "h1", "pid": 1, "started": time.time(), "seen": time.time()}
    safe_bench.client().hset(keys.scheduler_members(), "token-1", _json.dumps(entry))  # no lease held
    got = checks(doctor(safe_bench)[1])
    assert got["scheduler"] == ("warn", "1 scheduler(s) alive, none leading yet")
    safe_bench.client().set(keys.scheduler_lease(), "token-1")
    got = checks(doctor(safe_bench)[1])
    assert got["scheduler"] == ("ok", "leader h1 pid 1, 1 process(es) alive")


def test_wrong_password_is_one_failed_check(safe_bench):
    safe_bench.client().config_set("requirepass", "s3cret")
    try:
        code, doc = doctor(safe_bench)
        assert code == 1 and [c["name"] for c in doc["checks"]] == ["redis"]
        assert doc["checks"][0]["status"] == "fail" and doc["checks"][0]["fix"]
        assert "s3cret" not in json.dumps(doc)
    finally:
        import redis as _redis

        _redis.Redis(port=safe_bench.redis.port, password="s3cret").config_set("requirepass", "")
