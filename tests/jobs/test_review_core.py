"""Regression tests from the correctness review of the jobs core (real Redis, real worker processes)."""

from __future__ import annotations

import os
import signal
import time

from bench_jobs.jobs.dispatch import Dispatcher, Ending
from bench_jobs.jobs.keys import Keys
from bench_jobs.jobs.workers import register_worker
from tests.waiting import wait_for
from tests.worker_helpers import WorkerProcs, add_job, job, workers_of


def test_a_worker_whose_registration_was_swept_registers_again(bench, tmp_path) -> None:
    """A worker that was frozen (or cut off by a Redis restart) past worker_dead_after is
    deregistered by the sweep. Once it beats again it must show up again (workers, doctor),
    not run on invisible with a half hash."""
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    bench.set_config(worker_dead_after=1)
    procs = WorkerProcs(bench, tmp_path)
    try:
        proc = procs.start("--queue", "default")
        worker = wait_for(lambda: workers_of(client, bid), what="the worker to register")[0]
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: not client.exists(keys.worker_alive(worker["name"])), what="its alive key to expire")
            Dispatcher(client, keys).sweep(force=True)
            assert workers_of(client, bid) == []
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        back = wait_for(lambda: workers_of(client, bid), what="the worker to register again")
        assert back[0]["name"] == worker["name"] and back[0]["queues"] == ["default"]
        assert client.sismember("rq:workers", f"rq:worker:{worker['name']}")
        # and it still works
        job_id = add_job(client, bid, "site1.test", "testapp.jobs.add", {"a": 1, "b": 2})
        wait_for(lambda: job(client, job_id).get("status") == "finished", what="the job to run")
    finally:
        procs.stop_all()


def test_the_canceled_index_does_not_keep_ids_of_expired_jobs(bench) -> None:
    """Canceled jobs expire after rq_job_failure_ttl; their index entries must go too, or the
    canceled count (ZCARD) only ever grows."""
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    bench.set_config(rq_job_failure_ttl=1)
    first = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    assert bench.cli("jobs", "cancel", first).exit_code == 0
    wait_for(lambda: not client.exists(f"rq:job:{first}"), what="the canceled job to expire")
    second = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    assert bench.cli("jobs", "cancel", second).exit_code == 0
    assert client.zrange(keys.index("canceled", "default", "site1.test"), 0, -1) == [second.encode()]


def test_rqs_failed_registry_is_trimmed_with_the_failed_index(bench) -> None:
    """rq:failed:{queue} holds id -> expiry time; entries past it were never removed (unbounded)."""
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    register_worker(client, keys, "w-f", ["default"], alive_ttl=60)
    d = Dispatcher(client, keys, "w-f")
    now = time.time()
    ids = []
    for n in range(2):
        add_job(client, bid, "site1.test", "testapp.jobs.noop")
        claimed = d.claim(["default"], now=now + 10 * n)
        d.finish(claimed, Ending("failed", error="boom", ttl=5), now=now + 10 * n)
        ids.append(claimed.id)
    assert client.zrange(keys.index("failed", "default", "site1.test"), 0, -1) == [ids[1].encode()]
    assert client.zrange(keys.rq_failed("default"), 0, -1) == [ids[1].encode()]


def test_a_repeated_claim_hands_back_the_job_in_hand(bench) -> None:
    """A claim applied by Redis whose reply was lost is retried by the client: the retry must return
    the same job (same attempt), not start a second one and strand the first until its deadline."""
    client, bid = bench.client(), bench.bench.bench_id
    keys = Keys(bid)
    register_worker(client, keys, "w-retry", ["default"], alive_ttl=30)
    first_id = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    second_id = add_job(client, bid, "site1.test", "testapp.jobs.noop")
    worker = Dispatcher(client, keys, "w-retry")
    first = worker.claim(["default"])
    again = worker.claim(["default"])  # as if the first reply never arrived
    assert first.id == again.id == first_id and again.attempts == first.attempts == 1
    assert job(client, second_id)["status"] == "queued"
    # once the job is finished, the next claim takes the next job
    applied, following = worker.finish(first, Ending("finished", 0.01, result="null"), ["default"])
    assert applied and following.id == second_id
