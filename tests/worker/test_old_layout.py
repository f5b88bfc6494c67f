"""Jobs written by an earlier layout (a Redis being upgraded in place) are listed, claimed, run, retried
and finished like new ones: every field the storage diet left out is still read where it exists."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bench_jobs.jobs.encoding import describe, rq_data, rq_time, to_json
from bench_jobs.jobs.keys import Keys, job_key
from tests.worker_helpers import add_job, job


def put_old_job(client, bench_id: str, site: str, method: str, kwargs: dict, *, retry: int = 0) -> str:
    """A queued job exactly as enqueue wrote it before the storage diet: 32 hex digits of id, every
    default written out (bj_attempts, bj_retry, retries_left, result_ttl, failure_ttl),
    bj_enqueued beside enqueued_at, and its site's queued index a ZSET scored by enqueue time."""
    keys = Keys(bench_id)
    job_id = f"{keys.tag}_{os.urandom(16).hex()}"
    now = time.time()
    stamp = rq_time(now)
    kwargs_json = to_json(kwargs)
    fields = {
        "created_at": stamp, "enqueued_at": stamp, "origin": keys.rq_queue_name("default"), "timeout": 300,
        "result_ttl": 600, "failure_ttl": 604800, "retries_left": retry, "bj_site": site, "bj_method": method,
        "bj_queue": "default", "bj_enqueued": repr(now), "bj_attempts": 0, "bj_retry": retry,
        "bj_kwargs": kwargs_json, "data": rq_data(method, kwargs_json), "description": describe(method, kwargs),
        "status": "queued",
    }
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(job_key(job_id), mapping=fields)
        pipe.rpush(keys.queue("default"), job_id)
        pipe.sadd("rq:queues", keys.queue("default"))
        pipe.zadd(keys.index("queued", "default", site), {job_id: now})
        pipe.sadd(keys.sites_seen(), site)
        pipe.lpush(keys.wake("default"), "1")
        pipe.execute()
    return job_id


def test_old_layout_jobs_are_listed_run_retried_and_finished(bench, tmp_path) -> None:
    client, bid = bench.client(), bench.bench.bench_id
    old_ok = put_old_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 2, "b": 3})
    marks = tmp_path / "flaky"
    old_flaky = put_old_job(client, bid, "site1.test", "testapp.worker_jobs.flaky",
                            {"path": str(marks), "failures": 1}, retry=1)
    new = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 1, "b": 1})

    result = bench.run("--site", "site1.test", "show-pending-jobs", "--queue", "default", "--format", "json")
    assert result.returncode == 0, result.stderr
    [queue] = json.loads(result.stdout)["queues"]
    assert queue["pending"] == 3
    assert [j["id"] for j in queue["jobs"]] == [old_ok, old_flaky, new]
    assert all(j["enqueued_at"] for j in queue["jobs"])
    shown = json.loads(bench.run("--site", "site1.test", "jobs", "show", old_flaky, "--format", "json").stdout)
    assert (shown["attempts"], shown["retry"], shown["retries_left"]) == (0, 1, 1)

    result = bench.run("worker", "--burst", "--quiet", "--no-fork", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # the flaky one failed once and was scheduled for its retry: run the retry now
    deadline = time.monotonic() + 30
    while job(client, old_flaky)["status"] != "finished" and time.monotonic() < deadline:
        bench.run("--site", "site1.test", "jobs", "retry", old_flaky)
        bench.run("worker", "--burst", "--quiet", "--no-fork", timeout=120)
    for job_id, value in ((old_ok, 5), (new, 2)):
        data = job(client, job_id)
        assert data["status"] == "finished" and json.loads(data["bj_result"]) == value, data
    flaky = job(client, old_flaky)
    assert flaky["status"] == "finished" and flaky["bj_attempts"] == "2", flaky
    assert Path(marks).exists()

    listed = json.loads(bench.run("--site", "site1.test", "jobs", "list", "--status", "finished",
                                  "--format", "json").stdout)
    rows = listed["jobs"] if isinstance(listed, dict) else listed
    assert {row["id"] for row in rows} == {old_ok, old_flaky, new}
    keys = Keys(bid)
    # (the old ZSET index became a LIST when the new job was enqueued, and the claims emptied it)
    assert client.exists(keys.index("queued", "default", "site1.test")) == 0
    assert client.llen(keys.queue("default")) == 0
