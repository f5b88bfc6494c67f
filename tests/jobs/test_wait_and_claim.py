"""An idle worker's wait and claim in one round trip (`Dispatcher.wait_and_claim`): the claim rides
behind the BLPOP, runs the moment an enqueue wakes it, and stamps the job with Redis' clock then; a
wait that times out claims nothing and writes nothing."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench_jobs.jobs import scripts
from bench_jobs.jobs.dispatch import Dispatcher
from bench_jobs.jobs.encoding import RQ_TIME_FORMAT, parse_rq_time
from bench_jobs.jobs.keys import Keys, worker_key
from bench_jobs.jobs.workers import register_worker
from tests.conftest import make_bench
from tests.worker_helpers import add_job, job

SITE = "site1.test"


@pytest.fixture
def setup(bench):
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    register_worker(client, keys, "w1", ["default"], alive_ttl=60)
    scripts.load(client, "claim")  # as a worker's first claim leaves it (the NOSCRIPT path is tested below)
    return client, bid, keys, Dispatcher(client, keys, "w1")


def test_an_enqueue_during_the_wait_is_claimed_in_the_same_round_trip(setup) -> None:
    client, bid, keys, dispatch = setup
    ids: list[str] = []
    enqueuer = threading.Timer(0.3, lambda: ids.append(add_job(client, bid, SITE, "testapp.jobs.noop")))
    began = time.time()
    enqueuer.start()
    jobs = dispatch.wait_and_claim([keys.wake("default")], 5, ["default"], 4)
    enqueuer.join()
    assert [j.id for j in jobs] == ids
    fields = job(client, ids[0])
    assert fields["status"] == "started" and fields["worker_name"] == "w1"
    # Redis' clock when the wait ended, not the worker's when it sent the claim 0.3 s before
    stamp = parse_rq_time(fields["started_at"])
    assert stamp is not None and began + 0.25 <= stamp.timestamp() <= time.time() + 0.01
    assert client.hget(worker_key("w1"), "current_job") == ids[0].encode()
    assert client.zscore(keys.started(), ids[0]) is not None


def test_a_wait_that_times_out_claims_nothing_and_writes_nothing(tmp_path, redis_factory) -> None:
    server = redis_factory()  # its own: a key of another test expiring meanwhile would count as a change
    client, keys = server.client(), Keys(make_bench(tmp_path / "bench", server).bench_id)
    register_worker(client, keys, "w1", ["default"], alive_ttl=60)
    dispatch = Dispatcher(client, keys, "w1")
    assert dispatch.wait_and_claim([keys.wake("default")], 1, ["default"], 4) == []
    before = client.info("persistence")["rdb_changes_since_last_save"]
    assert dispatch.wait_and_claim([keys.wake("default")], 1, ["default"], 4) == []
    # an idle worker's claim every second must not grow the AOF or the replication stream
    assert client.info("persistence")["rdb_changes_since_last_save"] == before
    assert client.hget(worker_key("w1"), "state") == b"idle"


def test_a_lost_claim_script_wakes_the_worker_for_a_claim_of_its_own(setup) -> None:
    client, bid, keys, dispatch = setup
    job_id = add_job(client, bid, SITE, "testapp.jobs.noop")
    client.script_flush()
    # woken by the job's token, the claim behind the BLPOP meets NOSCRIPT: it is loaded and claims
    assert [j.id for j in dispatch.wait_and_claim([keys.wake("default")], 1, ["default"], 4)] == [job_id]
    assert job(client, job_id)["status"] == "started"


def _redis_now_probe() -> str:
    """dispatch_common.lua's `redis_now`, fed a given TIME reply (ARGV) instead of Redis' clock."""
    source = scripts._file("dispatch_common")
    found = re.search(r"local function redis_now\(\)\n.*?\nend\n", source, re.S)
    assert found, "redis_now is gone from dispatch_common.lua"
    body = found.group(0).replace("redis.call('TIME')", "{ARGV[1], ARGV[2]}")
    assert "ARGV[1]" in body
    return body + "local now, iso = redis_now()\nreturn {tostring(now), iso}\n"


@given(seconds=st.integers(0, 2**33), micros=st.integers(0, 999_999))
@settings(max_examples=300, deadline=None)
def test_redis_now_formats_any_time_as_rq_does(redis_server, seconds: int, micros: int) -> None:
    client = redis_server.client()
    _, iso = client.eval(_redis_now_probe(), 0, seconds, micros)
    expected = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros).strftime(RQ_TIME_FORMAT)
    assert iso.decode() == expected
